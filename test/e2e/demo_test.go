package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDemoCluster is `make demo-cluster`: the walkthrough through a real
// kube-apiserver, printed like a kubectl session. It runs only when
// SIGNET_DEMO_CLUSTER is set; the e2e suite covers the same ground.
func TestDemoCluster(t *testing.T) {
	if os.Getenv("SIGNET_DEMO_CLUSTER") == "" {
		t.Skip("set SIGNET_DEMO_CLUSTER=1 (make demo-cluster)")
	}
	start := time.Now()
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	say("\nStarting kube-apiserver, etcd and kube-controller-manager, a registry, and signet serve as the cluster's admission webhook...")
	c := setup(t)
	ctx := context.Background()
	say("Ready in %s. Registry %s holds e2e/app:v1 (signed with cosign) and e2e/app:unsigned.", time.Since(start).Round(100*time.Millisecond), c.reg)
	ns := c.namespace(t, nil)
	say("\n$ kubectl create namespace %s", ns)

	say("\n$ kubectl -n %s run web --image=%s/e2e/app:v1", ns, c.reg)
	p, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/e2e/app:v1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := p.Spec.Containers[0].Image
	say("pod/web created: allowed, pinned to %s", img[strings.LastIndexByte(img, '@')+1:])
	say("$ kubectl -n %s get pod web -o jsonpath='{.spec.containers[0].image}'\n%s", ns, img)

	say("\n$ kubectl -n %s run tool --image=%s/e2e/app:unsigned", ns, c.reg)
	_, err = c.cs.CoreV1().Pods(ns).Create(ctx, pod("tool", c.reg+"/e2e/app:unsigned"), metav1.CreateOptions{})
	if err == nil {
		t.Fatal("unsigned pod admitted")
	}
	say("Error from server (Forbidden): %v", err)

	say("\n$ kubectl -n %s create deployment shop --image=%s/e2e/app:v1 --replicas=2", ns, c.reg)
	if _, err := c.cs.AppsV1().Deployments(ns).Create(ctx, deployment("shop", c.reg+"/e2e/app:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "pods", func() bool {
		l, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=shop"})
		if err != nil || len(l.Items) != 2 {
			return false
		}
		say("deployment.apps/shop created; its ReplicaSet created 2 pods:")
		for _, p := range l.Items {
			say("  %s  %s", p.Name, p.Spec.Containers[0].Image)
		}
		return true
	})
	say("\nDone in %s.", time.Since(start).Round(100*time.Millisecond))
}
