package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// pkg is one package directory of the module with its non-test imports.
type pkg struct {
	dir     string // relative to the module root, e.g. internal/gateway
	imports map[string]bool
	hasDoc  bool
}

func loadPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, imports: map[string]bool{}}
			pkgs[rel] = p
		}
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") || f.Name.Name == "main" && f.Doc != nil {
			p.hasDoc = true
		}
		for _, im := range f.Imports {
			p.imports[strings.Trim(im.Path.Value, `"`)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// owners maps a third-party module prefix to the only package directories
// that may import it.
var owners = map[string][]string{
	"github.com/aws/":             {"internal/provider/bedrock"},
	"github.com/redis/go-redis":   {"internal/ratelimit/redislimit"},
	"modernc.org/sqlite":          {"internal/store/sqlstore"},
	"github.com/jackc/pgx":        {"internal/store/sqlstore"},
	"github.com/prometheus/":      {"internal/telemetry"},
	"go.opentelemetry.io/":        {"internal/tracing"},
	"go.yaml.in/yaml":             {"internal/config"},
	"golang.org/x/oauth2":         {"internal/provider/vertex", "internal/sso"},
	"github.com/coreos/go-oidc":   {"internal/sso"},
	"github.com/oauth2-proxy/":    {"internal/sso/ssotest"},
	"github.com/parquet-go/":      {"internal/billing/parquetcols"},
	"github.com/openai/openai-go": {},
	"github.com/anthropics/":      {},
	"github.com/google/go-cmp":    {},
}

func TestDependenciesStayInOnePackage(t *testing.T) {
	for _, p := range loadPackages(t) {
		for im := range p.imports {
			for prefix, allowed := range owners {
				if !strings.HasPrefix(im, prefix) {
					continue
				}
				// Test-support packages (storetest, providertest, ...) may
				// use test libraries and official SDKs as clients.
				ok := strings.HasSuffix(p.dir, "test") && (prefix == "github.com/google/go-cmp" ||
					prefix == "github.com/openai/openai-go" || prefix == "github.com/anthropics/")
				for _, a := range allowed {
					ok = ok || p.dir == a
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may", p.dir, im, allowed)
				}
			}
		}
	}
}

// forbidden lists imports a package must not have (prefix match).
var forbidden = map[string][]string{
	"internal/llm":      {"net/http", "switchyard/internal/", "github.com/"},
	"internal/provider": {"switchyard/internal/api", "switchyard/internal/gateway", "switchyard/internal/store"},
	"internal/gateway": {"net/http", "database/sql", "github.com/", "switchyard/internal/api", "switchyard/internal/admin",
		"switchyard/internal/store/sqlstore", "switchyard/internal/ratelimit/redislimit", "switchyard/internal/app"},
	"internal/route":  {"net/http", "database/sql", "github.com/", "switchyard/internal/api", "switchyard/internal/gateway"},
	"internal/store":  {"database/sql", "github.com/", "switchyard/internal/"},
	"internal/usage":  {"net/http", "database/sql", "github.com/", "switchyard/internal/api", "switchyard/internal/gateway"},
	"internal/api":    {"database/sql", "switchyard/internal/store/sqlstore", "switchyard/internal/app", "github.com/"},
	"internal/config": {"switchyard/internal/"},
	"internal/outage": {"switchyard/internal/", "github.com/"},
	// jsonwire is a leaf: the adapters and the store share it.
	"internal/jsonwire": {"switchyard/internal/", "github.com/"},
	// The console acts only through the admin service and reads metrics
	// through telemetry: never the store, the router or the gateway.
	"internal/console": {"database/sql", "github.com/", "switchyard/internal/store", "switchyard/internal/route",
		"switchyard/internal/gateway", "switchyard/internal/api", "switchyard/internal/app", "switchyard/internal/ratelimit",
		"switchyard/internal/usage", "switchyard/internal/provider", "switchyard/internal/config"},
	"internal/tracing": {"switchyard/internal/api", "switchyard/internal/app", "switchyard/internal/store", "switchyard/internal/telemetry",
		"github.com/"},
	// billing reads the ledger through its own small interface and plans
	// with route: it never reaches the database, the config or the edges.
	"internal/billing": {"net/http", "database/sql", "github.com/", "switchyard/internal/api", "switchyard/internal/gateway",
		"switchyard/internal/admin", "switchyard/internal/config", "switchyard/internal/store/sqlstore", "switchyard/internal/app"},
	"cmd/switchyard": {"switchyard/internal/gateway", "switchyard/internal/api", "switchyard/internal/store"},
}

func TestImportDirection(t *testing.T) {
	pkgs := loadPackages(t)
	for dir, bad := range forbidden {
		p := pkgs[dir]
		if p == nil {
			continue
		}
		for im := range p.imports {
			for _, b := range bad {
				if strings.HasPrefix(im, b) && !(dir == "internal/provider" && im == "switchyard/internal/llm") {
					t.Errorf("%s must not import %s", dir, im)
				}
			}
		}
	}
	// Vendor packages never import each other or the pipeline.
	for dir, p := range pkgs {
		if !strings.HasPrefix(dir, "internal/provider/") || dir == "internal/provider/providertest" {
			continue
		}
		for im := range p.imports {
			// Azure speaks the OpenAI wire format and reuses its package.
			if dir == "internal/provider/azure" && im == "switchyard/internal/provider/openai" {
				continue
			}
			// Vertex AI serves Gemini's and Anthropic's wire formats and
			// reuses both packages.
			if dir == "internal/provider/vertex" && (im == "switchyard/internal/provider/gemini" || im == "switchyard/internal/provider/anthropic") {
				continue
			}
			if strings.HasPrefix(im, "switchyard/internal/") && im != "switchyard/internal/llm" && im != "switchyard/internal/provider" && im != "switchyard/internal/sse" &&
				im != "switchyard/internal/jsonwire" &&
				!strings.HasPrefix(im, "switchyard/internal/"+dir[len("internal/"):]) {
				t.Errorf("%s imports %s; channel adapters depend only on llm, provider, sse and jsonwire", dir, im)
			}
		}
	}
}

func TestPackageDocs(t *testing.T) {
	var missing []string
	for dir, p := range loadPackages(t) {
		if !p.hasDoc {
			missing = append(missing, dir)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("packages without a doc comment saying what they own: %v", missing)
	}
}
