package output

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The shipped Elasticsearch component template maps every Vigil.* field
// the encoder writes.
func TestElasticTemplateCoversVigilFields(t *testing.T) {
	var tmpl struct {
		Template struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	b, err := os.ReadFile("../deploy/elasticsearch/component-template-vigil.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	mapped := map[string]bool{}
	var walk func(prefix string, props map[string]any)
	walk = func(prefix string, props map[string]any) {
		for k, v := range props {
			m, _ := v.(map[string]any)
			if sub, ok := m["properties"].(map[string]any); ok {
				walk(prefix+k+".", sub)
			} else {
				mapped[prefix+k] = true
			}
		}
	}
	walk("", tmpl.Template.Mappings.Properties)

	var golden []byte
	for _, f := range []string{"testdata/records.golden", "testdata/intents.golden"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		golden = append(golden, b...)
	}
	var leaves func(prefix string, v any)
	leaves = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				leaves(prefix+"."+k, x)
			}
			return
		}
		if a, ok := v.([]any); ok && len(a) > 0 {
			if _, isObj := a[0].(map[string]any); isObj {
				for _, x := range a {
					leaves(prefix, x)
				}
				return
			}
		}
		p := strings.TrimPrefix(prefix, ".")
		if strings.HasPrefix(p, "Vigil.") && !mapped[p] {
			t.Errorf("%s is not in the component template", p)
			mapped[p] = true // once
		}
	}
	for _, line := range bytes.Split(bytes.TrimSpace(golden), []byte("\n")) {
		var doc map[string]any
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatal(err)
		}
		leaves("", doc)
	}
}
