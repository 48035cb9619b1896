package stories

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/science/shard"
)

// Spec is what to generate: PerTopic texts for every (emotion, topic) pair,
// or for every topic when Kind is Neutral (Emotions ignored).
type Spec struct {
	Kind     Kind
	Emotions []string
	Topics   []string
	PerTopic int
	Seed     uint64
}

// Task is one planned story.
type Task struct {
	Key
	ID   string
	Seed uint64 // TaskSeed(spec seed, ID)
}

// Tasks expands the spec in a fixed order: emotion, then topic, then index.
func (s Spec) Tasks() ([]Task, error) {
	if s.PerTopic <= 0 {
		return nil, fmt.Errorf("stories per topic must be positive, got %d", s.PerTopic)
	}
	if len(s.Topics) == 0 {
		return nil, errors.New("no topics")
	}
	emotions := s.Emotions
	switch s.Kind {
	case Neutral:
		emotions = []string{""}
	case Emotional:
		if len(emotions) == 0 {
			return nil, errors.New("no emotions")
		}
	default:
		return nil, fmt.Errorf("unknown kind %q", s.Kind)
	}
	tasks := make([]Task, 0, len(emotions)*len(s.Topics)*s.PerTopic)
	for _, e := range emotions {
		for _, t := range s.Topics {
			for i := 0; i < s.PerTopic; i++ {
				k := Key{Kind: s.Kind, Emotion: e, Topic: t, Index: i}
				id := k.ID()
				tasks = append(tasks, Task{Key: k, ID: id, Seed: TaskSeed(s.Seed, id)})
			}
		}
	}
	return tasks, nil
}

// Config is a generation run.
type Config struct {
	Spec
	Style          Style
	StoriesPerCall int     // StyleChat: stories asked for per request (default 4); StyleBase: always 1
	Batch          int     // requests per Generate call (default 8)
	MaxTokens      int     // per request (default: 200 for base, 400 per story for chat)
	Temperature    float64 // default 1.0 (set a negative value for greedy, 0)
	TopP           float64
	HeldOut        float64 // fraction of emotional stories held out (default DefaultHeldOut; negative = none)
	MinChars       int     // texts shorter than this are dropped and retried by a later run (default 40)
	// Openings are StyleBase templates (nil: EmotionalOpenings or
	// NeutralOpenings by Kind); see BaseOpening for the placeholders.
	Openings []string
	// Render renders one user turn through the model's chat template, with
	// the generation prompt and without the leading BOS text (the generator
	// adds BOS): the text a StyleRequest story continues. Required for
	// StyleRequest.
	Render func(user string) (string, error)
	// Shard restricts the run to one shard's tasks (ShardTasks); the zero
	// value runs them all.
	Shard shard.Shard
}

func (c *Config) defaults() {
	if c.Style == "" {
		c.Style = StyleBase
	}
	if c.Style != StyleChat || c.StoriesPerCall <= 0 {
		if c.Style != StyleChat {
			c.StoriesPerCall = 1
		} else {
			c.StoriesPerCall = 4
		}
	}
	if c.Batch <= 0 {
		c.Batch = 8
	}
	if c.MaxTokens <= 0 {
		if c.Style != StyleChat {
			c.MaxTokens = 200
		} else {
			c.MaxTokens = 400 * c.StoriesPerCall
		}
	}
	switch {
	case c.Temperature == 0:
		c.Temperature = 1
	case c.Temperature < 0:
		c.Temperature = 0
	}
	switch {
	case c.HeldOut == 0:
		c.HeldOut = DefaultHeldOut
	case c.HeldOut < 0:
		c.HeldOut = 0
	}
	if c.MinChars == 0 {
		c.MinChars = 40
	}
}

// Summary counts what a run did.
type Summary struct {
	Planned  int // tasks in the plan
	Skipped  int // already in the store when the run started
	Written  int // stored by this run
	Dropped  int // generated but too short, or missing from a multi-story answer
	Requests int // generation requests sent
}

// Progress is told how many planned stories are done (stored) out of total.
type Progress func(done, total int)

// group is one generation request and the tasks it serves.
type group struct {
	req   Request
	tasks []Task
	// prefix is the opening a base model continues (stored as Prefix).
	prefix string
}

// Generate runs cfg's plan against gen, appending to store every story it
// does not hold yet, one fsynced batch at a time. When ctx is cancelled it
// stops after the batch in flight is abandoned and returns ctx's error; the
// store then holds every finished batch, and running Generate again with the
// same config continues from there.
func Generate(ctx context.Context, cfg Config, gen Generator, store *Store, progress Progress) (Summary, error) {
	cfg.defaults()
	var sum Summary
	tasks, err := cfg.Tasks()
	if err != nil {
		return sum, err
	}
	if cfg.Shard.Count > 1 {
		if err := cfg.Shard.Validate(); err != nil {
			return sum, err
		}
		tasks = ShardTasks(tasks, cfg.Shard)
	}
	sum.Planned = len(tasks)
	var todo []Task
	for _, t := range tasks {
		if store.Has(t.ID) {
			sum.Skipped++
		} else {
			todo = append(todo, t)
		}
	}
	done := sum.Skipped
	if progress != nil {
		progress(done, sum.Planned)
	}
	if cfg.Style == StyleRequest && cfg.Render == nil {
		return sum, fmt.Errorf("stories: the request style needs the model's chat template (Config.Render)")
	}
	groups, err := makeGroups(cfg, todo)
	if err != nil {
		return sum, err
	}
	name := gen.Name()
	for start := 0; start < len(groups); start += cfg.Batch {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		batch := groups[start:min(start+cfg.Batch, len(groups))]
		reqs := make([]Request, len(batch))
		for i := range batch {
			reqs[i] = batch[i].req
		}
		texts, err := gen.Generate(ctx, reqs)
		sum.Requests += len(reqs)
		if err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			return sum, fmt.Errorf("generating stories: %w", err)
		}
		if len(texts) != len(reqs) {
			return sum, fmt.Errorf("generator %s returned %d texts for %d requests", name, len(texts), len(reqs))
		}
		var out []Story
		for i, g := range batch {
			stories, dropped := g.stories(cfg, texts[i], name)
			sum.Dropped += dropped
			out = append(out, stories...)
		}
		if err := store.Append(out); err != nil {
			return sum, err
		}
		sum.Written += len(out)
		done += len(out)
		if progress != nil {
			progress(done, sum.Planned)
		}
	}
	return sum, nil
}

// Prefix returns the text a StyleBase or StyleRequest story of task t
// continues: a base opening, or the rendered story request.
func (cfg Config) Prefix(t Task) (string, error) {
	switch {
	case cfg.Style == StyleBase && cfg.Kind == Emotional:
		return BaseOpening(cfg.Openings, t.Emotion, t.Topic, t.Seed), nil
	case cfg.Style == StyleBase:
		return BaseNeutralOpening(cfg.Openings, t.Topic, t.Seed), nil
	case cfg.Style == StyleRequest:
		emotion := t.Emotion
		if cfg.Kind == Neutral {
			emotion = ""
		}
		p, err := cfg.Render(ChatRequest(emotion, t.Topic, t.Seed))
		if err != nil {
			return "", fmt.Errorf("stories: rendering the story request: %w", err)
		}
		return p, nil
	}
	return "", fmt.Errorf("stories: %s stories have no single prefix", cfg.Style)
}

func makeGroups(cfg Config, todo []Task) ([]group, error) {
	var groups []group
	for i := 0; i < len(todo); {
		// Consecutive tasks of the same (emotion, topic), up to StoriesPerCall.
		j := i + 1
		for j < len(todo) && j-i < cfg.StoriesPerCall &&
			todo[j].Emotion == todo[i].Emotion && todo[j].Topic == todo[i].Topic {
			j++
		}
		ts := todo[i:j]
		g := group{tasks: ts, req: Request{Seed: ts[0].Seed, MaxTokens: cfg.MaxTokens,
			Temperature: cfg.Temperature, TopP: cfg.TopP}}
		switch {
		case cfg.Style == StyleBase || cfg.Style == StyleRequest:
			p, err := cfg.Prefix(ts[0])
			if err != nil {
				return nil, err
			}
			g.prefix, g.req.Prompt = p, p
		case cfg.Kind == Emotional:
			g.req.Messages = EmotionalStoriesPrompt(ts[0].Emotion, ts[0].Topic, len(ts))
		default:
			g.req.Messages = NeutralDialoguesPrompt(ts[0].Topic, len(ts))
		}
		groups = append(groups, g)
		i = j
	}
	return groups, nil
}

func (g *group) stories(cfg Config, text, genName string) (out []Story, dropped int) {
	var texts []string
	prompt := g.prefix
	if cfg.Style != StyleChat {
		texts = []string{text}
	} else {
		texts = ParseMulti(text, len(g.tasks))
		prompt = RenderMessages(g.req.Messages)
	}
	if len(texts) > len(g.tasks) {
		texts = texts[:len(g.tasks)]
	}
	for i, t := range g.tasks {
		if i >= len(texts) {
			dropped++
			continue
		}
		body := texts[i]
		if cfg.Kind == Neutral && cfg.Style == StyleChat {
			body = CleanDialogue(body)
		}
		if len(strings.TrimSpace(body)) < cfg.MinChars {
			dropped++
			continue
		}
		st := Story{ID: t.ID, Kind: t.Kind, Emotion: t.Emotion, Topic: t.Topic, Index: t.Index,
			Prefix: g.prefix, Text: body, Prompt: prompt, Generator: genName, Seed: g.req.Seed}
		if cfg.Kind == Emotional {
			st.Split = SplitOf(t.ID, cfg.HeldOut)
		} else {
			st.Split = Train
		}
		out = append(out, st)
	}
	return out, dropped
}
