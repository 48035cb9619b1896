package arch

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/approx"
)

// tinyConfigs are small configs of every family, as their config.json
// would describe them.
func tinyConfigs(t testing.TB) map[string]Config {
	t.Helper()
	jsons := map[string]map[string]any{
		"llama": {"model_type": "llama", "vocab_size": 64.0, "hidden_size": 32.0, "intermediate_size": 48.0,
			"num_hidden_layers": 2.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0, "rope_theta": 500000.0,
			"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16.0}},
		"mistral": {"model_type": "mistral", "vocab_size": 64.0, "hidden_size": 32.0, "intermediate_size": 48.0,
			"num_hidden_layers": 2.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0, "head_dim": 16.0, "sliding_window": 3.0},
		"qwen2": {"model_type": "qwen2", "vocab_size": 64.0, "hidden_size": 32.0, "intermediate_size": 48.0,
			"num_hidden_layers": 2.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0, "tie_word_embeddings": true, "rope_theta": 1e6},
		"qwen3": {"model_type": "qwen3", "vocab_size": 64.0, "hidden_size": 32.0, "intermediate_size": 48.0,
			"num_hidden_layers": 2.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0, "head_dim": 16.0, "tie_word_embeddings": true},
		"gemma2": {"model_type": "gemma2", "vocab_size": 64.0, "hidden_size": 32.0, "intermediate_size": 48.0,
			"num_hidden_layers": 2.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0, "head_dim": 16.0,
			"query_pre_attn_scalar": 24.0, "sliding_window": 3.0},
		"gemma3": {"model_type": "gemma3_text", "vocab_size": 64.0, "hidden_size": 32.0, "intermediate_size": 48.0,
			"num_hidden_layers": 7.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0, "head_dim": 8.0,
			"query_pre_attn_scalar": 8.0, "sliding_window": 3.0, "rope_scaling": map[string]any{"rope_type": "linear", "factor": 8.0}},
		"gpt2": {"model_type": "gpt2", "vocab_size": 64.0, "n_embd": 32.0, "n_layer": 2.0, "n_head": 4.0, "n_positions": 64.0},
	}
	out := map[string]Config{}
	for name, m := range jsons {
		f, err := Lookup(m["model_type"].(string))
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.FromHF(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = c
	}
	return out
}

// randomModel builds a model of config c with random weights.
func randomModel(t testing.TB, c Config, seed uint64) (*Transformer, MapSource) {
	t.Helper()
	ts, err := RandomTensors(c, seed, tensor.F32)
	if err != nil {
		t.Fatal(err)
	}
	src := MapSource{}
	for _, x := range ts {
		src[x.Name] = x
	}
	m, err := New(c, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m, src
}

func TestUnknownModelType(t *testing.T) {
	_, err := Lookup("mamba")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"mamba"`, "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "gemma3_text", "gpt2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := LookupGGUF("mamba"); err == nil || !strings.Contains(err.Error(), "gemma3") || strings.Contains(err.Error(), "mistral") {
		t.Errorf("GGUF lookup error %v, want one listing the GGUF architectures", err)
	}
}

// TestFromHF checks how each family reads real-world config.json shapes.
func TestFromHF(t *testing.T) {
	base := func(mt string, extra map[string]any) map[string]any {
		m := map[string]any{"model_type": mt, "vocab_size": 100.0, "hidden_size": 64.0, "intermediate_size": 96.0,
			"num_hidden_layers": 12.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	sliding := func(c Config) string { return fmt.Sprint(c.SlidingWindow, c.Sliding) }
	tests := []struct {
		name  string
		cfg   map[string]any
		check func(c Config) string // "" when right
	}{
		{"smollm2 (llama, tied)", base("llama", map[string]any{"tie_word_embeddings": true, "rms_norm_eps": 1e-5}), func(c Config) string {
			return want(c.Tied && c.HeadDim == 16 && c.NormEps == 1e-5 && c.RopeTheta == 10000, "tied, head_dim 16")
		}},
		{"llama 3.2 rope scaling", base("llama", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192.0}}), func(c Config) string {
			s := c.RopeScaling
			return want(s != nil && s.Type == "llama3" && s.Factor == 32 && s.OriginalMaxPos == 8192, "llama3 scaling")
		}},
		{"llama with attention_bias", base("llama", map[string]any{"attention_bias": true}), func(c Config) string {
			return want(c.QKVBias && c.OutBias && !c.MLPBias, "q/k/v/o biases")
		}},
		{"mistral v0.1", base("mistral", map[string]any{"sliding_window": 4096.0}), func(c Config) string {
			return want(c.SlidingWindow == 4096 && allSliding(c.Sliding), "window 4096 on every layer: "+sliding(c))
		}},
		{"mistral v0.3 (null window)", base("mistral", map[string]any{"sliding_window": nil, "head_dim": 128.0}), func(c Config) string {
			return want(c.SlidingWindow == 0 && c.Sliding == nil && c.HeadDim == 128, "no window, head_dim 128: "+sliding(c))
		}},
		{"mistral without the key", base("mistral", nil), func(c Config) string {
			return want(c.SlidingWindow == 4096, "MistralConfig's default window 4096")
		}},
		{"qwen2.5", base("qwen2", map[string]any{"use_sliding_window": false, "sliding_window": 32768.0, "tie_word_embeddings": true}), func(c Config) string {
			return want(c.QKVBias && !c.OutBias && c.Tied && c.Sliding == nil, "q/k/v biases, tied, no window")
		}},
		{"qwen2 with sliding window", base("qwen2", map[string]any{"use_sliding_window": true, "sliding_window": 8.0, "max_window_layers": 10.0}), func(c Config) string {
			return want(c.SlidingWindow == 8 && !c.Sliding[9] && c.Sliding[10] && c.Sliding[11], "layers 10, 11 sliding: "+sliding(c))
		}},
		{"qwen3 (head_dim ≠ hidden/heads)", base("qwen3", map[string]any{"head_dim": 128.0}), func(c Config) string {
			return want(c.QKNorm && c.HeadDim == 128 && c.QDim() == 512 && !c.QKVBias, "q/k norm, head_dim 128")
		}},
		{"qwen3 default head_dim", base("qwen3", nil), func(c Config) string {
			return want(c.HeadDim == 128, "Qwen3Config's default head_dim 128")
		}},
		{"gemma2 9b", base("gemma2", map[string]any{"hidden_size": 3584.0, "head_dim": 256.0, "query_pre_attn_scalar": 256.0, "torch_dtype": "bfloat16"}), func(c Config) string {
			return want(c.Norm == RMSNormPlusOne && c.SandwichNorm && c.Act == GELUTanh && c.Tied &&
				c.EmbedScale == 59.75 && c.QueryScale == 1.0/16 && c.AttnSoftcap == 50 && c.FinalSoftcap == 30 &&
				c.SlidingWindow == 4096 && c.Sliding[0] && !c.Sliding[1] && c.Sliding[10] && !c.Sliding[11],
				fmt.Sprintf("Gemma 2 semantics, embed scale bf16(sqrt 3584) = 59.75 (got %v), even layers sliding", c.EmbedScale))
		}},
		{"gemma2 explicit null soft-caps", base("gemma2", map[string]any{"attn_logit_softcapping": nil, "final_logit_softcapping": nil}), func(c Config) string {
			return want(c.AttnSoftcap == 0 && c.FinalSoftcap == 0, "no soft-capping")
		}},
		{"gemma3 1b (text)", base("gemma3_text", map[string]any{"head_dim": 256.0, "query_pre_attn_scalar": 256.0, "sliding_window": 512.0, "rope_scaling": nil}), func(c Config) string {
			return want(c.QKNorm && c.RopeTheta == 1e6 && c.RopeLocalTheta == 10000 && c.RopeScaling == nil &&
				c.Sliding[0] && c.Sliding[4] && !c.Sliding[5] && c.Sliding[6] && !c.Sliding[11] && c.AttnSoftcap == 0 && c.FinalSoftcap == 0,
				"q/k norm, bases 1e6 / 10000, every 6th layer global: "+sliding(c))
		}},
		{"gemma3 4b (multimodal, sparse text_config)", map[string]any{"model_type": "gemma3", "torch_dtype": "bfloat16",
			"text_config": map[string]any{"hidden_size": 2560.0, "intermediate_size": 10240.0, "num_hidden_layers": 34.0,
				"num_key_value_heads": 4.0, "sliding_window": 1024.0, "rope_scaling": map[string]any{"factor": 8.0, "rope_type": "linear"}}},
			func(c Config) string {
				return want(c.Heads == 8 && c.HeadDim == 256 && c.Vocab == 262208 && c.QueryScale == 1.0/16 && c.EmbedScale == float64(tensor.BF16ToF32(tensor.F32ToBF16(float32(math.Sqrt(2560))))) &&
					c.RopeScaling != nil && c.RopeScaling.Factor == 8 && c.SlidingWindow == 1024 && !c.Sliding[29] && c.Sliding[30],
					"Gemma3TextConfig defaults (8 heads, head_dim 256, vocab 262208), linear 8 on global layers")
			}},
		{"gemma3 transformers 5 (rope_parameters, layer_types)", base("gemma3_text", map[string]any{"num_hidden_layers": 2.0, "sliding_window": 4.0,
			"layer_types": []any{"full_attention", "sliding_attention"},
			"rope_parameters": map[string]any{"full_attention": map[string]any{"rope_type": "linear", "factor": 4.0, "rope_theta": 1e6},
				"sliding_attention": map[string]any{"rope_type": "default", "rope_theta": 20000.0}}}), func(c Config) string {
			return want(!c.Sliding[0] && c.Sliding[1] && c.RopeLocalTheta == 20000 && c.RopeTheta == 1e6 && c.RopeScaling.Factor == 4, "rope_parameters per layer type")
		}},
		{"gpt2 (original checkpoint)", map[string]any{"model_type": "gpt2", "vocab_size": 50257.0, "n_embd": 768.0, "n_layer": 12.0, "n_head": 12.0,
			"n_positions": 1024.0, "n_inner": nil, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}, func(c Config) string {
			return want(c.FFN == 3072 && c.HeadDim == 64 && c.Norm == LayerNorm && c.PosEmbed && c.Tied && !c.Gated && c.RopeTheta == 0 && c.MaxSeq == 1024,
				"GPT-2 small")
		}},
	}
	for _, tt := range tests {
		f, err := Lookup(tt.cfg["model_type"].(string))
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.FromHF(tt.cfg)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if msg := tt.check(c); msg != "" {
			t.Errorf("%s: want %s", tt.name, msg)
		}
	}
}

func want(ok bool, what string) string {
	if ok {
		return ""
	}
	return what
}

func TestFromHFErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"model_type": "llama", "hidden_size": 64.0}, `"vocab_size"`},
		{map[string]any{"model_type": "llama", "vocab_size": 10.0, "hidden_size": 64.0, "intermediate_size": 8.0, "num_hidden_layers": 1.0,
			"num_attention_heads": 4.0, "hidden_act": "relu"}, `hidden_act "relu"`},
		{map[string]any{"model_type": "llama", "vocab_size": 10.0, "hidden_size": 64.0, "intermediate_size": 8.0, "num_hidden_layers": 1.0,
			"num_attention_heads": 4.0, "rope_scaling": map[string]any{"rope_type": "yarn", "factor": 4.0}}, `"yarn"`},
		{map[string]any{"model_type": "gpt2", "n_embd": 64.0, "n_layer": 1.0, "n_head": 4.0, "activation_function": "relu"}, `activation_function "relu"`},
		{map[string]any{"model_type": "gemma3"}, "text_config"},
	} {
		f, _ := Lookup(tt.cfg["model_type"].(string))
		if _, err := f.FromHF(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one mentioning %s", tt.cfg, err, tt.want)
		}
	}
}

// TestLlama3RopeFrequencies checks the llama3 rope scaling against the
// Llama 3.1 reference's apply_scaling, written out here: wavelengths
// shorter than original/high_freq_factor keep their frequency, longer than
// original/low_freq_factor are divided by factor, and in between the
// frequency is interpolated with smooth = (original/wavelength - low) / (high - low).
func TestLlama3RopeFrequencies(t *testing.T) {
	c := Config{HeadDim: 128, RopeTheta: 500000,
		RopeScaling: &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPos: 8192}}
	got := c.InvFreq(false)
	if len(got) != 64 {
		t.Fatalf("%d frequencies, want 64", len(got))
	}
	var kept, divided, smoothed int
	for i, g := range got {
		freq := math.Pow(500000, -float64(2*i)/128)
		wavelen := 2 * math.Pi / freq
		var w float64
		switch {
		case wavelen < 8192/4.0:
			w, kept = freq, kept+1
		case wavelen > 8192/1.0:
			w, divided = freq/8, divided+1
		default:
			smooth := (8192/wavelen - 1) / (4 - 1)
			w, smoothed = (1-smooth)*freq/8+smooth*freq, smoothed+1
		}
		if !(math.Abs(g-w) <= 1e-12*w) {
			t.Errorf("frequency %d: %g, want %g", i, g, w)
		}
	}
	if kept == 0 || divided == 0 || smoothed == 0 {
		t.Errorf("kept %d, divided %d, smoothed %d: the test does not cover all three bands", kept, divided, smoothed)
	}
	// Hand values: the first frequency (wavelength 2π) is kept, the last
	// (wavelength ≈ 2π·500000^(126/128) ≫ 8192) divided by 8.
	if got[0] != 1 || !(math.Abs(got[63]-math.Pow(500000, -126.0/128)/8) <= 1e-18) {
		t.Errorf("first/last frequency %g, %g", got[0], got[63])
	}
	// GGUF stores the scaling as per-frequency divisors (rope_freqs); they
	// give the same frequencies.
	f, _ := RopeFreqs(&c).F32()
	g := c
	g.RopeScaling = &RopeScaling{Type: "factors", Factors: make([]float64, len(f))}
	for i, x := range f {
		g.RopeScaling.Factors[i] = float64(x)
	}
	for i, x := range g.InvFreq(false) {
		if !(math.Abs(x-got[i]) <= 1e-6*got[i]) {
			t.Errorf("rope_freqs frequency %d: %g, want %g", i, x, got[i])
		}
	}
}

// TestGemma3RopeBases checks the two rotary tables of Gemma 3 by hand on
// head_dim 4: local layers rotate by pos·10000^(-2i/4) = pos·{1, 0.01},
// global layers by pos·1e6^(-2i/4)/8 = pos·{1/8, 0.001/8} (linear factor 8).
func TestGemma3RopeBases(t *testing.T) {
	c := Config{HeadDim: 4, RopeTheta: 1e6, RopeLocalTheta: 10000, RopeScaling: &RopeScaling{Type: "linear", Factor: 8}}
	for _, tc := range []struct {
		local bool
		want  []float64
	}{{true, []float64{1, 0.01}}, {false, []float64{0.125, 0.000125}}} {
		got := c.InvFreq(tc.local)
		for i := range tc.want {
			if !(math.Abs(got[i]-tc.want[i]) <= 1e-15) {
				t.Errorf("local=%v frequency %d: %g, want %g", tc.local, i, got[i], tc.want[i])
			}
		}
	}
	// In the model: layers 0–4 and 6 are local, layer 5 global; each
	// layer's attention must match a float64 attention with its base.
	m, src := randomModel(t, tinyConfigs(t)["gemma3"], 3)
	checkAttention(t, m, src, "gemma3")
}

// TestQwen3QKNorm checks the per-head q/k RMSNorm by hand, then Qwen3's
// attention against a float64 attention with the norm.
func TestQwen3QKNorm(t *testing.T) {
	// One head of 4: q = (1, 2, 3, 4), rms = sqrt(30/4), weight (1, 1, 2, 0.5).
	m := &Transformer{Config: Config{Norm: RMSNorm, NormEps: 0}}
	q := []float32{1, 2, 3, 4}
	m.normRow(q, q, Norm{W: []float32{1, 1, 2, 0.5}})
	r := math.Sqrt(7.5)
	for i, w := range []float64{1 / r, 2 / r, 6 / r, 2 / r} {
		if !(math.Abs(float64(q[i])-w) <= 1e-6) {
			t.Errorf("q[%d] = %g, want %g", i, q[i], w)
		}
	}
	mq, src := randomModel(t, tinyConfigs(t)["qwen3"], 4)
	checkAttention(t, mq, src, "qwen3")
}

// TestSlidingWindow checks Mistral's and Gemma 2's sliding window (window
// 3: position p attends to keys p-2..p, Hugging Face's kv > q - window)
// against a float64 attention, over more positions than the window.
func TestSlidingWindow(t *testing.T) {
	for _, fam := range []string{"mistral", "gemma2", "llama", "qwen2"} {
		m, src := randomModel(t, tinyConfigs(t)[fam], 5)
		checkAttention(t, m, src, fam)
	}
}

// checkAttention runs 9 tokens through m and compares every layer's
// hook_attn_out with refAttention applied to its hook_resid_pre.
func checkAttention(t *testing.T, m *Transformer, src MapSource, fam string) {
	t.Helper()
	toks := []int{3, 17, 42, 5, 9, 60, 1, 33, 8}
	var hs hook.Set
	pre := make([]*hook.Capture, m.Layers)
	out := make([]*hook.Capture, m.Layers)
	for l := range pre {
		pre[l], out[l] = &hook.Capture{}, &hook.Capture{}
		hs.Add(hook.Block(l, hook.ResidPre), pre[l].Func())
		hs.Add(hook.Block(l, hook.AttnOut), out[l].Func())
	}
	s := &Seq{Cache: m.NewCache(), Tokens: toks, Hooks: &hs}
	if err := m.Forward([]*Seq{s}); err != nil {
		t.Fatal(err)
	}
	for l := 0; l < m.Layers; l++ {
		want := refAttention(t, &m.Config, src, l, pre[l].Data, len(toks))
		worst := 0.0
		for i, w := range want {
			worst = approx.Worst(worst, approx.Diff(float64(out[l].Data[i]), w))
		}
		if len(out[l].Data) != len(want) || !(worst <= 1e-4) {
			t.Errorf("%s layer %d: attention output differs from the float64 reference by %g", fam, l, worst)
		}
	}
}

// refAttention is a float64 attention block written from the Hugging Face
// modelling code of the Llama-style families: input norm, q/k/v
// projections (+ biases), q/k RMSNorm per head, rope on halves with this
// layer's base (local for sliding layers), scores scaled and soft-capped,
// causal mask with the sliding window (kv > q - window), softmax, output
// projection, Gemma's post-attention norm.
func refAttention(t *testing.T, c *Config, src MapSource, l int, x []float32, n int) []float64 {
	t.Helper()
	p := fmt.Sprintf("model.layers.%d.", l)
	get := func(name string) []float64 {
		x, ok := src[name]
		if !ok {
			return nil
		}
		v, err := x.F32()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(v))
		for i, f := range v {
			out[i] = float64(f)
		}
		return out
	}
	norm := func(v, w []float64) []float64 {
		ss := 0.0
		for _, a := range v {
			ss += a * a
		}
		r := 1 / math.Sqrt(ss/float64(len(v))+c.NormEps)
		out := make([]float64, len(v))
		for i, a := range v {
			g := w[i]
			if c.Norm == RMSNormPlusOne {
				g = 1 + g
			}
			out[i] = a * r * g
		}
		return out
	}
	linear := func(v []float64, name string) []float64 {
		w, b := get(name+".weight"), get(name+".bias")
		in := len(v)
		out := make([]float64, len(w)/in)
		for o := range out {
			for i := 0; i < in; i++ {
				out[o] += w[o*in+i] * v[i]
			}
			if b != nil {
				out[o] += b[o]
			}
		}
		return out
	}
	hd, d := c.HeadDim, c.Dim
	sliding := c.Sliding != nil && c.Sliding[l]
	// Frequencies written out independently of Config.invFreq.
	theta, factor := c.RopeTheta, 1.0
	if sliding && c.RopeLocalTheta > 0 {
		theta = c.RopeLocalTheta
	} else if c.RopeScaling != nil && c.RopeScaling.Type == "linear" {
		factor = c.RopeScaling.Factor
	}
	inv := make([]float64, hd/2)
	for i := range inv {
		inv[i] = math.Pow(theta, -float64(2*i)/float64(hd)) / factor
	}
	if c.RopeScaling != nil && c.RopeScaling.Type == "llama3" && !(sliding && c.RopeLocalTheta > 0) {
		inv = c.InvFreq(false) // checked on its own in TestLlama3RopeFrequencies
	}
	rope := func(v []float64, pos int) {
		for h := 0; h < len(v)/hd; h++ {
			u := v[h*hd : (h+1)*hd]
			for i := 0; i < hd/2; i++ {
				a, b := u[i], u[i+hd/2]
				cs, sn := math.Cos(float64(pos)*inv[i]), math.Sin(float64(pos)*inv[i])
				u[i], u[i+hd/2] = a*cs-b*sn, a*sn+b*cs
			}
		}
	}
	qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
	for r := 0; r < n; r++ {
		row := make([]float64, d)
		for i := range row {
			row[i] = float64(x[r*d+i])
		}
		xn := norm(row, get(p+"input_layernorm.weight"))
		qs[r], ks[r], vs[r] = linear(xn, p+"self_attn.q_proj"), linear(xn, p+"self_attn.k_proj"), linear(xn, p+"self_attn.v_proj")
		if qn := get(p + "self_attn.q_norm.weight"); qn != nil {
			kn := get(p + "self_attn.k_norm.weight")
			for h := 0; h < c.Heads; h++ {
				copy(qs[r][h*hd:], norm(qs[r][h*hd:(h+1)*hd], qn))
			}
			for h := 0; h < c.KVHeads; h++ {
				copy(ks[r][h*hd:], norm(ks[r][h*hd:(h+1)*hd], kn))
			}
		}
		rope(qs[r], r)
		rope(ks[r], r)
	}
	scale := c.QueryScale
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(hd))
	}
	out := make([]float64, 0, n*d)
	for r := 0; r < n; r++ {
		att := make([]float64, c.Heads*hd)
		for h := 0; h < c.Heads; h++ {
			g := h / (c.Heads / c.KVHeads)
			var w []float64
			var js []int
			for j := 0; j <= r; j++ {
				if sliding && j <= r-c.SlidingWindow {
					continue
				}
				s := 0.0
				for i := 0; i < hd; i++ {
					s += qs[r][h*hd+i] * ks[j][g*hd+i]
				}
				s *= scale
				if c.AttnSoftcap > 0 {
					s = c.AttnSoftcap * math.Tanh(s/c.AttnSoftcap)
				}
				w, js = append(w, s), append(js, j)
			}
			mx := w[0]
			for _, s := range w {
				mx = math.Max(mx, s)
			}
			sum := 0.0
			for i := range w {
				w[i] = math.Exp(w[i] - mx)
				sum += w[i]
			}
			for i, j := range js {
				for k := 0; k < hd; k++ {
					att[h*hd+k] += w[i] / sum * vs[j][g*hd+k]
				}
			}
		}
		o := linear(att, p+"self_attn.o_proj")
		if c.SandwichNorm {
			o = norm(o, get(p+"post_attention_layernorm.weight"))
		}
		out = append(out, o...)
	}
	return out
}

// TestEveryHookEveryFamily runs a random model of every family with a
// capture at every hook point: each fires once per position, d_model wide.
func TestEveryHookEveryFamily(t *testing.T) {
	for fam, c := range tinyConfigs(t) {
		m, _ := randomModel(t, c, 1)
		toks := []int{1, 2, 3, 4, 5, 6, 7}
		var hs hook.Set
		caps := map[hook.Point]*hook.Capture{}
		for _, p := range hook.All(m.Layers) {
			caps[p] = &hook.Capture{}
			hs.Add(p, caps[p].Func())
		}
		s := &Seq{Cache: m.NewCache(), Tokens: toks, Hooks: &hs, Logits: AllLogits}
		if err := m.Forward([]*Seq{s}); err != nil {
			t.Fatal(err)
		}
		for p, c := range caps {
			if c.Rows() != len(toks) || c.Dim != m.Dim || len(c.Data) != len(toks)*m.Dim {
				t.Errorf("%s %s: %d rows × %d, want %d × %d", fam, p, c.Rows(), c.Dim, len(toks), m.Dim)
			}
		}
		for _, v := range s.Out {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: logit %v", fam, v)
			}
		}
	}
}

// TestGGUFNamesAndLayouts maps every tensor of every family to its GGUF
// name and back, and through the GGUF layout and back.
func TestGGUFNamesAndLayouts(t *testing.T) {
	for fam, c := range tinyConfigs(t) {
		f, _ := Lookup(c.Arch)
		ts, err := RandomTensors(c, 2, tensor.F32)
		if err != nil {
			t.Fatal(err)
		}
		stored := c
		stored.RopeInterleaved = f.GGUF.PermuteQK
		stored.Conv1DTransposed = len(f.GGUF.Conv1D) > 0
		if f.GGUF.NormShift {
			stored.Norm = RMSNorm
		}
		seen := map[string]bool{}
		for _, x := range ts {
			g, ok := f.GGUF.GGUFName(x.Name)
			if !ok {
				t.Errorf("%s: %s has no GGUF name", fam, x.Name)
				continue
			}
			if seen[g] {
				t.Errorf("%s: GGUF name %s twice", fam, g)
			}
			seen[g] = true
			if back, _ := f.GGUF.HFName(g); back != x.Name {
				t.Errorf("%s: %s → %s → %s", fam, x.Name, g, back)
			}
			y, err := f.ToGGUFLayout(&c, x.Name, x)
			if err != nil {
				t.Fatal(err)
			}
			z, err := f.HFLayout(&stored, x.Name, y)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := x.F32()
			b, _ := z.F32()
			for i := range a {
				if !(math.Abs(float64(a[i]-b[i])) <= 1e-6) {
					t.Errorf("%s: %s does not survive the GGUF layout round trip", fam, x.Name)
					break
				}
			}
		}
		if _, ok := f.GGUF.HFName("blk.0.attn_q.weight.extra"); ok {
			t.Errorf("%s: a name with a suffix mapped", fam)
		}
	}
}
