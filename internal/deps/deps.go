package deps
import (
 _ "github.com/alecthomas/kong"
 _ "gopkg.in/yaml.v3"
 _ "github.com/google/go-cmp/cmp"
 _ "github.com/sergi/go-diff/diffmatchpatch"
 _ "golang.org/x/sync/errgroup"
 _ "golang.org/x/time/rate"
 _ "github.com/rogpeppe/go-internal/testscript"
 _ "github.com/getkin/kin-openapi/openapi3filter"
 _ "github.com/gofrs/flock"
 _ "github.com/google/renameio/v2"
 _ "github.com/invopop/jsonschema"
 _ "go.etcd.io/bbolt"
 _ "golang.org/x/term"
)
