package arch

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

// FuzzFromHF reads arbitrary bytes as a config.json through the family its
// model_type names. It must never panic; a config it accepts and that
// validates must give finite, non-negative rotary frequencies, one per rotary
// pair; and writing such a config back (ToHF) must read as the same config.
func FuzzFromHF(f *testing.F) {
	for _, fam := range []string{"llama", "qwen2", "gemma2", "gpt2"} {
		b, err := os.ReadFile(testref.Path("synthetic", fam, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"model_type":"gemma2","num_hidden_layers":-1}`))
	f.Add([]byte(`{"model_type":"llama","vocab_size":8,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"rope_theta":-1}`))
	const llama = `"model_type":"llama","vocab_size":8,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2`
	for _, rs := range []string{
		`{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":1,"original_max_position_embeddings":16}`,
		`{"rope_type":"llama3","factor":8,"low_freq_factor":4,"high_freq_factor":1,"original_max_position_embeddings":16}`,
		`{"rope_type":"linear","factor":1e-320}`,
		`{"rope_type":"yarn","factor":4,"original_max_position_embeddings":16}`,
	} {
		f.Add([]byte(`{` + llama + `,"rope_scaling":` + rs + `}`))
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			return
		}
		mt, _ := m["model_type"].(string)
		fam, err := Lookup(mt)
		if err != nil {
			return
		}
		c, err := fam.FromHF(m)
		if err != nil || c.Validate() != nil {
			return
		}
		for _, local := range []bool{false, true} {
			if c.RopeTheta == 0 { // no rotary embeddings (GPT-2)
				break
			}
			inv := c.InvFreq(local)
			if len(inv) != c.rotaryDim()/2 {
				t.Fatalf("%s: %d inverse frequencies, want %d", b, len(inv), c.rotaryDim()/2)
			}
			for i, x := range inv {
				if !(x >= 0) || math.IsInf(x, 0) {
					t.Fatalf("%s: inverse frequency %d is %v, want finite and not negative", b, i, x)
				}
			}
		}
		if fam.ToHF == nil {
			return
		}
		out, err := json.Marshal(fam.ToHF(&c))
		if err != nil {
			t.Fatalf("%s: ToHF does not marshal: %v", b, err)
		}
		var back map[string]any
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		c2, err := fam.FromHF(back)
		if err != nil {
			t.Fatalf("%s: written back as %s, which does not read: %v", b, out, err)
		}
		if g, w := fmtConfig(c2), fmtConfig(c); g != w {
			t.Fatalf("%s: round trip through %s\n got %s\nwant %s", b, out, g, w)
		}
	})
}

func fmtConfig(c Config) string {
	b, _ := json.Marshal(c)
	return string(b)
}
