package check

import "testing"

func TestFileURI(t *testing.T) {
	for in, want := range map[string]string{
		"deploy/web.yaml":         "deploy/web.yaml",
		"./deploy//web.yaml":      "deploy/web.yaml",
		"charts/my app/x.yaml":    "charts/my%20app/x.yaml",
		"a:b.yaml":                "./a:b.yaml",
		"/work/repo/compose.yaml": "file:///work/repo/compose.yaml",
		"-":                       "stdin",
		"100%.yaml":               "100%25.yaml",
	} {
		if got := fileURI(in); got != want {
			t.Errorf("fileURI(%q) = %q, want %q", in, got, want)
		}
	}
}
