// Package certs is signet's own TLS for the webhook (signet serve
// --tls-mode=managed): a CA and a serving certificate kept in one Secret,
// issued with crypto/x509, renewed before they expire, and the CA bundle
// published to the webhook configurations. Reconcile is the pure decision
// (what the Secret should hold at a given time); Manager applies it through
// a Store (internal/kube implements it over the API) and serves the
// certificate. Replicas need no leader: every write is conditional on the
// Secret's resourceVersion (create if absent, update if unchanged), so of
// two replicas writing at once one wins and the other adopts its result.
//
// Switching modes: when signet creates its first CA, the CAs another TLS
// mode left in the webhook configurations stay in the bundle until they
// expire (Options.Published); a published bundle that holds signet's CAs
// and more is left as it is (Covers), so switching away from managed TLS
// can publish both.
//
// Bounds: what is parsed is one Secret, at most 1 MiB (the API server's
// limit), written only by signet and its namespace's admins, and the
// webhook configurations' caBundle (API objects written by cluster admins);
// the CA bundle holds the current CA, previous ones until they expire (one
// CA change every ~6.7 years) and at most MaxInheritedCAs CAs of another
// mode. Sync makes at most three conditional writes.
package certs
