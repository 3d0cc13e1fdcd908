// Package exhaustion runs the built `signet serve` against clients that try
// to exhaust its memory or goroutines through the webhook port — request
// fields that would become metric labels and log fields, connections that
// declare 7 MiB bodies and send nothing or trickle, HTTP/2 streams, floods
// of full-size bodies, Pods with hundreds of thousands of images — and
// measures the process's peak RSS (VmHWM from /proc) while an ordinary
// admission is sent every 250 ms and must be answered within its deadline.
//
// docs/security.md ("Adversarial review classes", 5 to 7) states each bound
// and the figures measured here. The tests are Linux only (/proc) and
// skipped with -short.
package exhaustion
