package cli

import (
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/urfave/cli/v3"
)

// updateCheckCommand is `swarm-utils update-check --service NAME`: one update check now, as the
// cron runs it for services labelled swarm-utils.update.auto=true.
func updateCheckCommand(deps jobs.DepsFunc) *cli.Command {
	return serviceJob("update-check",
		"check once whether the registry has a new digest for the tag the service runs (labels update.enable=true and update.auto=true) "+
			"and, when it has, roll the service to tag@digest through the update pipeline; the result says which digest replaced which",
		deps, (*jobs.Deps).CheckUpdate)
}
