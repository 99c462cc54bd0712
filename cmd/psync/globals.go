package main

import "time"

// The defaults of -f and --api-url (kong.Vars hands them to the tags).
const (
	defaultManifest = "psync.yaml"
	defaultAPIURL   = "https://api.paperspace.com/v1"
)

// Globals are the flags every command takes.
type Globals struct {
	File    string `short:"f" name:"file" placeholder:"FILE|DIR" default:"${defaultManifest}" help:"Manifest file, or a directory whose *.yaml and *.yml files are merged."`
	State   string `name:"state" env:"PSYNC_STATE" placeholder:"FILE|s3://BUCKET/KEY" help:"Where the state lives: a file, or s3://BUCKET/KEY (default: settings.state, else psync.state.json next to the manifest)."`
	APIURL  string `name:"api-url" env:"PAPERSPACE_API_URL" default:"${defaultAPIURL}" help:"Base URL of the Paperspace API. The key is read from PAPERSPACE_API_KEY."`
	Sandbox string `name:"sandbox" placeholder:"DIR" help:"Run against an embedded sandbox with its data in DIR instead of Paperspace."`

	// Checked in connect, not by a kong enum: an empty PSYNC_SANDBOX_DIALECT
	// (an unset CI variable) means the default, and only --sandbox uses it.
	SandboxDialect string `name:"sandbox-dialect" env:"PSYNC_SANDBOX_DIALECT" placeholder:"spec|paperspace-v1" complete:"spec,paperspace-v1" help:"API dialect the --sandbox speaks: spec (api/openapi.yaml, the default) or paperspace-v1 (the live API)."`
	Debug          bool   `name:"debug" help:"Log every API request to stderr (the key is never shown)."`
	NoColor        bool   `name:"no-color" help:"Never colour output (also: NO_COLOR set and not empty)."`

	InsecureHTTP bool          `name:"insecure-http" help:"Allow plain http:// to a host that is not loopback."`
	RateLimit    float64       `name:"rate-limit" default:"0" placeholder:"RPS" help:"A hard cap on requests per second, shared by all workers (default 0: none; psync learns the API's limit from its 429s and keeps just under it)."`
	Timeout      time.Duration `name:"timeout" default:"30s" help:"Timeout of one HTTP request."`
	MaxAttempts  int           `name:"max-attempts" default:"8" help:"Most attempts of one request (retries on 429, 5xx and network errors)."`
	MaxRetryTime time.Duration `name:"max-retry-time" default:"2m" help:"Most time spent retrying one request."`

	TemplateTimeout time.Duration `name:"template-timeout" default:"30m" help:"Most time to wait for an asynchronous template creation (live API)."`
}
