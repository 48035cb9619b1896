package api

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/limbic-dev/limbic/science/vecpack"
)

// BenchmarkRegulateEffect measures what a regulate rule does to the signal
// it watches on the embedded model with a real vector pack
// (LIMBIC_PACK=path, e.g. the one `limbic run` made): the same sad story
// openings completed with and without a rule that counter-steers "sad" while
// its z-score is high. It reports the mean sad z over the generated tokens
// both ways. A measurement, not a test: it needs a pack from a run.
func BenchmarkRegulateEffect(b *testing.B) {
	path := os.Getenv("LIMBIC_PACK")
	if path == "" {
		b.Skip("set LIMBIC_PACK to a vector pack of the embedded model")
	}
	pack, err := vecpack.Read(path)
	if err != nil {
		b.Fatal(err)
	}
	// The counter-steer; by default at the pack's best layer, which is also
	// the read layer (so the readout moves by construction); set
	// LIMBIC_REGULATE_STEER=sad=-0.25@1 to steer upstream instead.
	counter := os.Getenv("LIMBIC_REGULATE_STEER")
	if counter == "" {
		counter = "sad=-0.25"
	}
	prompts := []string{
		"Lily's dog died and she could not stop crying. She", "Tom lost his favorite toy in the river. He",
		"Nobody came to Mia's birthday party. She sat alone and", "Ben's grandma went away forever. Ben",
		"The little bird's nest fell down in the storm. The bird", "Sue broke her mom's best cup. She",
		"Max's best friend moved to another town. Max", "Anna's balloon flew away into the sky. Anna",
	}
	run := func(withRule bool) (mean float64, per []float64, firing int) {
		ts, _ := newTestServer(b, false, func(c *Config) {
			c.Pack, c.PackPath = pack, path
			if withRule {
				c.Rules = rules(b, `- {name: sad-regulate, emotion: sad, op: ">", threshold: 0.5, clear: 0, window: 2, action: {type: regulate, steer: "`+counter+`", tokens: 8}}`)
			}
		})
		for i, p := range prompts {
			body := fmt.Sprintf(`{"prompt": %q, "max_tokens": 40, "temperature": 0.8, "seed": %d, "limbic": {"readout": {"emotions": ["sad"]}}}`, p, i)
			resp, out := post(b, ts.URL+"/v1/completions", body)
			var r CompletionResponse
			if resp.StatusCode != 200 || json.Unmarshal(out, &r) != nil {
				b.Fatalf("%d %s", resp.StatusCode, out)
			}
			v := r.Limbic.Summary["sad"].Mean
			per = append(per, v)
			mean += v / float64(len(prompts))
			for _, a := range r.Limbic.Alerts {
				if a.State == "firing" {
					firing++
				}
			}
		}
		return
	}
	for i := 0; i < b.N; i++ {
		base, bper, _ := run(false)
		reg, rper, fired := run(true)
		lower := 0
		for j := range bper {
			if rper[j] < bper[j] {
				lower++
			}
		}
		b.ReportMetric(base, "sad-z-without")
		b.ReportMetric(reg, "sad-z-with")
		b.ReportMetric(float64(lower), "prompts-lower")
		b.ReportMetric(float64(fired), "firings")
	}
}
