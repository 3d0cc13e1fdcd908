// Command bench measures a running `signet serve` the way an API server
// uses it: AdmissionReviews over HTTPS with keep-alive, against a registry
// that counts requests. It starts everything itself on loopback — an
// in-process OCI registry holding signed images, the signet binary given
// with -signet — and reports:
//
//   - cold admission: latency percentiles and registry requests per
//     admission of never-seen images, each in a repository of its own, for
//     each kind of signed image (a legacy signature, a cosign v3 bundle, a
//     signature and two cosign attestations, legacy `.att` and as v3
//     bundles: cold.go), signet's CPU time and the registry connections;
//   - cold latency per image and registry requests per cold verification
//     for 1, 3 and 10 trust roots;
//   - verifications triggered by a burst of concurrent admissions of one
//     uncached image;
//   - warm (cached) latency percentiles at fixed request rates, open loop;
//   - saturated throughput with a fixed number of concurrent clients;
//   - resident memory of the signet process, idle and under load.
//
// Figures are printed as Markdown; with -write they replace the generated
// section of docs/benchmarks.md. Run it through `make bench`.
package main
