package commands

import "context"
