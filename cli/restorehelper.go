package cli

import (
	"context"
	"os"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/urfave/cli/v3"
)

// restoreHelperCommand is what restore-service runs inside its helper on a node (hidden: not
// for people). The S3 keys come from the files AWS_ACCESS_KEY_ID_FILE and
// AWS_SECRET_ACCESS_KEY_FILE name, never from flags.
func restoreHelperCommand() *cli.Command {
	return &cli.Command{
		Name:   restore.HelperCommand,
		Hidden: true,
		Usage:  "restore-service's helper: replace the mounted volumes' content with one archive",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "s3-url", Required: true},
			&cli.BoolFlag{Name: "https"},
			&cli.StringFlag{Name: "bucket", Required: true},
			&cli.StringFlag{Name: "key", Required: true},
			&cli.StringFlag{Name: "marker", Required: true},
			&cli.StringSliceFlag{Name: "volume", Usage: "an archive entry (backup/ENTRY/…), mounted at /restore/ENTRY"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return restore.RunHelper(ctx, restore.HelperArgs{
				S3:  config.S3{URL: cmd.String("s3-url"), HTTPS: cmd.Bool("https"), Bucket: cmd.String("bucket")},
				Key: cmd.String("key"), Volumes: cmd.StringSlice("volume"), Marker: cmd.String("marker"),
			}, os.Getenv, cmd.Root().Writer)
		},
	}
}
