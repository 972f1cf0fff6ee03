// Package e2e holds end-to-end tests (build tag `integration`) that deploy swarm-utils itself
// on the test swarm as a user would — the image built by scripts/lib/build-image.sh, the stack
// file deploy/swarm-utils.stack.yml, secrets, the attachable overlay network — and drive it
// over HTTP from a client container on that network.
package e2e
