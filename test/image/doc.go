// Package image tests signet's image build (hack/image, make image) and
// release (hack/release.sh, make release) against a real registry on
// loopback: the index and both platforms, the user, the entrypoint and
// the labels, that two builds of one commit give one digest, that the
// binary taken from the pushed amd64 layer runs, and that signet admits
// its own signed image and denies the same image pushed unsigned.
package image
