package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policysource"
)

// Policy sources (Config.PolicySource).
const (
	SourceFile    = "file"
	SourceCluster = "cluster"
)

// policySource is where the server's engine comes from: the file watcher,
// the resources, or both.
type policySource struct {
	engine func() *policy.Engine
	run    func(ctx context.Context, interval time.Duration)
	name   func() string
}

// newPolicy loads the file (an error if it does not compile) and sets up
// the resources' source; neither reads the API yet.
func newPolicy(cfg Config, reg policy.Registry, opts []policy.CompileOption, log *slog.Logger, m *metrics.Metrics) (*policySource, error) {
	switch cfg.PolicySource {
	case "", SourceFile:
		if cfg.PolicyFile == "" {
			return nil, errors.New("no policy: give a policy file or the cluster's policy resources as the source")
		}
		pw, err := NewPolicyWatcher(cfg.PolicyFile, func(d *policy.Document, _ string) (*policy.Engine, error) {
			eng, err := policy.Compile(d, reg, opts...)
			if err == nil && len(eng.InsecureRegistries()) > 0 {
				log.Warn("the policy lets signet reach these registries over plain HTTP (insecureRegistries): answers from them can be altered on the way", "policy", eng.Name(), "insecureRegistries", eng.InsecureRegistries())
			}
			return eng, err
		}, log, m)
		if err != nil {
			return nil, err
		}
		pw.alerts = cfg.Alerts
		return &policySource{engine: pw.Engine, run: func(ctx context.Context, d time.Duration) { go pw.Run(ctx, d) },
			name: func() string { return pw.Engine().Name() + " " + pw.Hash() }}, nil
	case SourceCluster:
	default:
		return nil, fmt.Errorf("policy source %q: want %q or %q", cfg.PolicySource, SourceFile, SourceCluster)
	}
	if cfg.PolicyClient == nil {
		return nil, errors.New("the cluster's policy resources need the Kubernetes API")
	}
	po := policysource.Options{Registry: reg, Compile: opts, Log: log, Metrics: m}
	if cfg.Alerts != nil {
		po.Rejected = cfg.Alerts.PolicyReloadFailed
	}
	src := policysource.New(cfg.PolicyClient, po)
	ps := &policySource{engine: src.Engine, name: func() string { return "resources" }}
	var pw *PolicyWatcher
	if cfg.PolicyFile != "" {
		// The file is one more ClusterImagePolicy.
		var err error
		pw, err = NewPolicyWatcher(cfg.PolicyFile, func(d *policy.Document, hash string) (*policy.Engine, error) {
			u, err := policy.CompileUnit(policy.Object{Ref: policy.ObjectRef{Kind: policy.KindCluster, Name: policysource.FileName(cfg.PolicyFile)}, Doc: d}, reg, opts...)
			if err != nil {
				return nil, err
			}
			src.SetFile(u, hash)
			return policy.Assemble([]*policy.Unit{u}, reg, opts...), nil
		}, log, nil)
		if err != nil {
			return nil, err
		}
		pw.alerts = cfg.Alerts
		ps.name = func() string { return "resources+" + policysource.FileName(cfg.PolicyFile) }
	}
	ps.run = func(ctx context.Context, d time.Duration) {
		go src.Run(ctx)
		if pw != nil {
			go pw.Run(ctx, d)
		}
	}
	return ps, nil
}
