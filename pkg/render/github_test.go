package render

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
)

func TestAnnotationEscaping(t *testing.T) {
	tests := []struct {
		name string
		a    Annotation
		want string
	}{
		{
			name: "position and title",
			a:    Annotation{Level: "error", File: "psync.yaml", Line: 4, Col: 3, Title: "psync: manifest", Message: "invalid YAML: a tab is used for indentation"},
			want: "::error file=psync.yaml,line=4,col=3,title=psync%3A manifest::invalid YAML: a tab is used for indentation",
		},
		{
			name: "no position",
			a:    Annotation{Level: "warning", Message: "100% of the scripts"},
			want: "::warning::100%25 of the scripts",
		},
		{
			// A hostile name cannot end the line and start a command of its
			// own, nor add a property.
			name: "hostile message and properties",
			a: Annotation{Level: "error", File: "a,line=1::x\n::error::forged.yaml", Line: 2, Title: "t,col=9",
				Message: "script \"x\n::error file=evil::forged\r\n\" failed: 50%"},
			want: `::error file=a%2Cline=1%3A%3Ax\n%3A%3Aerror%3A%3Aforged.yaml,line=2,title=t%2Ccol=9::script "x\n::error file=evil::forged\r\n" failed: 50%25`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.a.String()
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Errorf("annotation spans lines: %q", got)
			}
		})
	}
}

func TestFindingAndReportAnnotations(t *testing.T) {
	m := &manifest.Manifest{
		Files:     []string{"psync.yaml"},
		Scripts:   []manifest.Script{{Name: "a", Pos: manifest.Position{File: "psync.yaml", Line: 3, Column: 5}}},
		Templates: []manifest.Template{{Name: "t", Pos: manifest.Position{File: "psync.yaml", Line: 9, Column: 5}}},
	}
	locate := NewLocator(m)
	p := &plan.Plan{Findings: []plan.Finding{
		{Rule: plan.RulePreventDestroy, Keys: []string{"script/gone", "template/t"}, Message: "protected", Override: "--allow-destroy"},
		{Rule: plan.RuleMaxDeletePercent, Keys: []string{"script/gone#s9"}, Message: "too many", Override: "--allow-mass-delete", Overridden: true},
	}}
	got := FindingAnnotations(p, locate)
	want := []Annotation{
		{Level: "warning", File: "psync.yaml", Line: 9, Col: 5, Title: "psync: unsafe plan (prevent-destroy)", Message: "protected. To apply it anyway, pass --allow-destroy."},
		{Level: "warning", File: "psync.yaml", Title: "psync: unsafe plan (max-delete-percent)", Message: "too many (allowed by --allow-mass-delete)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	r := failedReport()
	ra := ReportAnnotations(r, locate)
	if len(ra) == 0 {
		t.Fatal("no annotation for the failed changes")
	}
	for _, a := range ra {
		if a.Level != "error" || !strings.Contains(a.Message, ": ") {
			t.Errorf("report annotation %+v", a)
		}
	}
	// An assignment is annotated at its script.
	if pos, ok := locate("assignment/a/psbox001"); !ok || pos.Line != 3 {
		t.Errorf("locate(assignment/a/psbox001) = %v, %t", pos, ok)
	}
}

// TestGitHubGolden: the annotations --output github adds to a refused plan
// and to a failed apply, and to manifest problems, as golden files.
func TestGitHubGolden(t *testing.T) {
	m := &manifest.Manifest{
		Files:     []string{"psync.yaml"},
		Scripts:   []manifest.Script{{Name: "install-cuda", Pos: manifest.Position{File: "psync.yaml", Line: 3, Column: 5}}},
		Templates: []manifest.Template{{Name: "base-image", Pos: manifest.Position{File: "psync.yaml", Line: 12, Column: 5}}},
	}
	locate := NewLocator(m)
	write := func(as []Annotation) []byte {
		var b strings.Builder
		if err := WriteAnnotations(&b, as); err != nil {
			t.Fatal(err)
		}
		return []byte(b.String())
	}
	golden(t, "plan/refused.github", write(FindingAnnotations(refusedPlan(), locate)))
	golden(t, "plan/hostile.github", write(FindingAnnotations(hostilePlan(), locate)))
	golden(t, "report/failed.github", write(ReportAnnotations(failedReport(), locate)))
	golden(t, "validate/invalid.github", write(DiagnosticAnnotations([]manifest.Diagnostic{
		{Pos: manifest.Position{File: "psync.yaml", Line: 4, Column: 4}, Message: "invalid YAML: this line is indented 3 spaces, which matches no block above it"},
		{Pos: manifest.Position{File: "scripts/a,b.sh", Line: 2}, Message: "bash: line 2: syntax error near unexpected token `fi'"},
	})))
}
