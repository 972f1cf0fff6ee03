package cleannode

import (
	"path"
	"slices"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/labels"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Settings configure clean-node for one node. With no labels every step is on.
type Settings struct {
	Enabled, Image, Builder, Container             bool
	ImageTimeout, BuilderTimeout, ContainerTimeout time.Duration
	// Keep: repository globs whose images stay (SWARM_UTILS_CLEAN_NODE_IMAGE_KEEP, then the
	// node's clean.image.keep). Until: only images older than this go; 0 any age.
	Keep  []string
	Until time.Duration
}

// SettingsFromLabels reads a node's clean.* labels. Unlabelled nodes are cleaned with
// all three steps; swarm-utils.clean.enable=false opts a node out entirely (Enabled false, other
// labels not checked, as for services).
func SettingsFromLabels(lbls map[string]string, cfg config.Config) (Settings, error) {
	r := labels.Reader{Labels: lbls}
	if !r.Bool(parse.LabelNodeCleanEnable, true) || r.Err != nil {
		return Settings{}, r.Err
	}
	s := Settings{
		Enabled:          true,
		Image:            r.Bool(parse.LabelNodeCleanImageEnable, true),
		Builder:          r.Bool(parse.LabelNodeCleanBuilderEnable, true),
		Container:        r.Bool(parse.LabelNodeCleanContainerEnable, true),
		ImageTimeout:     r.Millis(parse.LabelNodeCleanImageTimeout, cfg.Timeouts.CleanNodeImage),
		BuilderTimeout:   r.Millis(parse.LabelNodeCleanBuilderTimeout, cfg.Timeouts.CleanNodeBuilder),
		ContainerTimeout: r.Millis(parse.LabelNodeCleanContainerTimeout, cfg.Timeouts.CleanNodeContainer),
		Keep:             slices.Concat(cfg.CleanNodeImage.Keep, r.List(parse.LabelNodeCleanImageKeep)),
		Until:            r.Duration(parse.LabelNodeCleanImageUntil, cfg.CleanNodeImage.Until),
	}
	for _, glob := range r.List(parse.LabelNodeCleanImageKeep) {
		if _, err := path.Match(glob, ""); err != nil {
			r.Fail(parse.LabelNodeCleanImageKeep, "%q is not a valid glob: %v", glob, err)
		}
	}
	if r.Err != nil {
		return Settings{}, r.Err
	}
	return s, nil
}
