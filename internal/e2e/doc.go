// Package e2e holds end-to-end tests (build tag `integration`) that deploy swarm-utils itself
// on the test swarm as a user would — the image built by scripts/lib/build-image.sh, the stack
// files deploy/swarm-utils.stack.yml and deploy/swarm-utils.backup.stack.yml, secrets, the
// attachable overlay network — and drive it over HTTP from a client container on that network,
// running the examples/ CI call lines as written (the OIDC ones with identity tokens from
// stand-in GitHub and GitLab issuers on the bed's bridge address).
package e2e
