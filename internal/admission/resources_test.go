package admission_test

// resourceKinds declares two kinds beyond the built-in ones for the golden
// reviews: Argo Rollouts' Rollout (a PodTemplateSpec at spec.template) and
// a Tekton-like Task (images at spec.steps[].image, found by an
// expression).
const resourceKinds = `resources:
- group: argoproj.io
  version: v1alpha1
  kind: Rollout
  images:
  - podTemplate: /spec/template
- group: tekton.dev
  version: v1
  kind: Task
  images:
  - expression: 'object.spec.steps.transformList(i, s, has(s.image), "/spec/steps/" + string(i) + "/image")'
`
