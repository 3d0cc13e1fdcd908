package workload

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// reviewed lists, per type, every field of the pod spec types as of
// k8s.io/api v0.38.0-beta.0 (Kubernetes 1.38), each read for whether it
// makes a node pull an image. The outcome, field by field, is the table in
// docs/security.md ("1. Images a Pod can pull that signet never looks
// at"): images are containers[].image, initContainers[].image,
// ephemeralContainers[].image and volumes[].image.reference, all walked
// by Decode; every other field is argued there.
var reviewed = map[string][]string{
	"PodSpec": {"volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds",
		"activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount", "automountServiceAccountToken",
		"nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
		"subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority", "dnsConfig",
		"readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints",
		"setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims", "resources", "hostnameOverride",
		"schedulingGroup", "evictionResponders"},
	"Container":                containerFields,
	"EphemeralContainerCommon": containerFields,
	"EphemeralContainer":       {"targetContainerName"},
	"VolumeSource": {"hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
		"glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc", "azureFile",
		"configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
		"storageos", "csi", "ephemeral", "image"},
	"ImageVolumeSource": {"reference", "pullPolicy"},
	"VolumeProjection":  {"secret", "downwardAPI", "configMap", "serviceAccountToken", "clusterTrustBundle", "podCertificate"},
}

// containerFields are the fields of a Container, and of an ephemeral
// container's EphemeralContainerCommon.
var containerFields = []string{
	"name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "resizePolicy",
	"restartPolicy", "restartPolicyRules", "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe", "startupProbe",
	"lifecycle", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin",
	"stdinOnce", "tty"}

// TestPodSpecFieldsReviewed fails when the k8s.io/api this module builds
// with has a pod spec field nobody has read for image pulls: a new way to
// make a node pull an image must be walked by Decode (and pinned) or
// argued in docs/security.md before the dependency moves.
func TestPodSpecFieldsReviewed(t *testing.T) {
	t.Parallel()
	for _, v := range []any{corev1.PodSpec{}, corev1.Container{}, corev1.EphemeralContainer{}, corev1.EphemeralContainerCommon{}, corev1.VolumeSource{}, corev1.ImageVolumeSource{}, corev1.VolumeProjection{}} {
		typ := reflect.TypeOf(v)
		for _, f := range jsonFields(typ) {
			if !slices.Contains(reviewed[typ.Name()], f) {
				t.Errorf("%s.%s is not reviewed for image pulls: add it to docs/security.md's table and to reviewed (and to Decode if the node pulls it)", typ.Name(), f)
			}
		}
	}
}

// jsonFields returns the JSON names of typ's fields; embedded structs
// without a name (EphemeralContainerCommon in EphemeralContainer) are
// reviewed as their own type.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for f := range typ.Fields() {
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if n == "" || n == "-" {
			continue
		}
		out = append(out, n)
	}
	return out
}
