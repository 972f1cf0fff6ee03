package commands

import "context"

type UpdateOptions struct {
	Service, Image string
	Force          bool
}

func (d *Deps) BackupService(ctx context.Context, name string) Result     { return Result{} }
func (d *Deps) UpdateService(ctx context.Context, o UpdateOptions) Result { return Result{} }
