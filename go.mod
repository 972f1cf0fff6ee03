module github.com/swarm-utils/swarm-utils

go 1.26.8

require (
	github.com/go-cmd/cmd v1.4.4 // indirect
	github.com/lmittmann/tint v1.2.1 // indirect
	github.com/netresearch/go-cron v0.15.0 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/tidwall/gjson v1.20.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.0 // indirect
	github.com/urfave/cli/v3 v3.14.0 // indirect
)
