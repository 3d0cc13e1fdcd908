// Package alert tells people when signet denies or warns about something,
// when a running image fails re-verification, when a policy reload fails
// and when the Redis cache's circuit breaker opens. It posts to Slack
// (incoming webhooks, Block Kit), Microsoft Teams (workflow webhooks, an
// Adaptive Card), Opsgenie (Alert API v2) and generic HTTPS webhooks (the
// alert object as JSON, optionally signed with HMAC-SHA256).
//
// The sinks are described in a YAML file (`signet serve --alerts FILE`,
// config.go) that is reloaded like the policy file: an invalid file keeps
// the sinks in force, logged and counted. Secrets (webhook URLs, the
// GenieKey, the HMAC secret) come from files or environment variables the
// file names, are never logged, and URLs are redacted from errors.
//
// Alerts never slow admission: an event is filtered, de-duplicated and put
// on each sink's bounded queue without blocking (a full queue drops the
// alert and counts it); one goroutine per sink sends, rate-limited, with
// retries (exponential backoff and jitter, Retry-After honoured, bounded).
// Everything an alert carries from a request (image names, reasons, names)
// is bounded in size and escaped for the sink's markup.
//
// Counted in signet_alerts_total{sink,outcome}: sent, dropped (queue full,
// rate-limited, too many open de-duplication groups), failed (the sink
// refused it or retries ran out) and deduplicated (folded into an alert
// already waiting in its window).
package alert
