package experiment

import (
	"context"
	"fmt"
	"sort"

	"github.com/limbic-dev/limbic/science/readout"
)

// ImplicitPrompt implies an emotion without naming it.
type ImplicitPrompt struct {
	Emotion string `json:"emotion"`
	Text    string `json:"text"`
}

// BaseImplicitPrompts are story situations for base models, one per core
// emotion, each ending where the story is about to name the feeling.
func BaseImplicitPrompts() []ImplicitPrompt {
	return []ImplicitPrompt{
		{"happy", "It was Lily's birthday and her mom gave her a puppy with a red bow. Lily felt"},
		{"sad", "Tom's goldfish did not move anymore, and his dad said it had died. Tom felt"},
		{"angry", "Ben's sister knocked down his tall tower on purpose and laughed. Ben felt"},
		{"scared", "In the dark night, Sue heard a loud growl under her bed. Sue felt"},
		{"surprised", "When Max opened the door, all his friends jumped out and shouted his name. Max felt"},
		{"proud", "Anna drew the best picture in the class and the teacher hung it on the wall. Anna felt"},
		{"lonely", "All the other children went home, and Tim sat in the empty park with nobody to play with. Tim felt"},
		{"excited", "Tomorrow they would go to the zoo to see the lions and the monkeys. Mia felt"},
		{"nervous", "It was Sam's first day at a new school and he did not know anyone. Sam felt"},
		{"calm", "Lucy sat by the quiet lake, listening to the soft wind and the birds. Lucy felt"},
		{"jealous", "Jack's little brother got a big shiny bike, but Jack got nothing. Jack felt"},
		{"grateful", "Emma forgot her lunch, so her friend shared his sandwich with her. Emma felt"},
		{"bored", "It rained all day and there was nothing to do inside the house. Leo felt"},
		{"embarrassed", "Zoe tripped on the stage and everyone in the room laughed at her. Zoe felt"},
		{"frustrated", "The puzzle piece would not fit, no matter how many times Ken tried. Ken felt"},
		{"worried", "Mom was very late coming home and it was getting dark outside. Amy felt"},
	}
}

// ChatImplicitPrompts are user messages in the spirit of the paper's
// implicit-content prompts (our own wording), read at the start of the
// assistant's answer.
func ChatImplicitPrompts() []ImplicitPrompt {
	return []ImplicitPrompt{
		{"happy", "My daughter just took her very first steps across the living room!"},
		{"sad", "We buried my grandfather this morning. I keep reaching for the phone to call him."},
		{"afraid", "Someone is trying to open my front door right now and my phone is at 2%."},
		{"angry", "My landlord kept my whole deposit and laughed when I asked why."},
		{"desperate", "I've been out of work for 18 months and the eviction notice came today. I have nowhere to go."},
		{"calm", "I'm sitting on the porch with tea, watching the rain. Nothing needs doing today."},
		{"proud", "After four years of night classes I finally walked across the stage for my degree."},
		{"guilty", "I yelled at my son this morning over nothing and he cried all the way to school."},
		{"surprised", "I opened the old book and a letter from my mother fell out, dated the day I was born."},
		{"nervous", "My job interview starts in ten minutes and my hands won't stop shaking."},
		{"grateful", "A stranger paid for my groceries when my card got declined."},
		{"lonely", "I moved to a new city three months ago and haven't had a real conversation since."},
	}
}

// ImplicitItem is one prompt's outcome.
type ImplicitItem struct {
	ImplicitPrompt
	Rank   int       `json:"rank"`   // of the implied emotion among all (0 = top)
	Score  float64   `json:"score"`  // its score
	Top    []Ranked  `json:"top"`    // the top 3
	Scores []float64 `json:"scores"` // every emotion's score, in Emotions order
}

// Ranked is an emotion with a score.
type Ranked struct {
	Emotion string  `json:"emotion"`
	Score   float64 `json:"score"`
}

// ImplicitResult is the implicit-prompt experiment's outcome.
type ImplicitResult struct {
	// Steering is the extra steering every forward pass ran under (Env.Steering);
	// empty for the unsteered baseline.
	Steering []string       `json:"steering,omitempty"`
	Layer    int            `json:"layer"`
	Metric   string         `json:"metric"`
	Emotions []string       `json:"emotions"`
	Items    []ImplicitItem `json:"items"`
	Top1     float64        `json:"top1"` // share of prompts whose implied emotion ranks first
	Top3     float64        `json:"top3"`
}

// Implicit reads each prompt at its last position (nil prompts: the base or
// chat set by model kind; prompts whose emotion the pack lacks are skipped).
func Implicit(ctx context.Context, e *Env, prompts []ImplicitPrompt) (*ImplicitResult, error) {
	if prompts == nil {
		prompts = BaseImplicitPrompts()
		if e.chatModel() {
			prompts = ChatImplicitPrompts()
		}
	}
	r, metric, err := e.reader()
	if err != nil {
		return nil, err
	}
	res := &ImplicitResult{Steering: e.Steering, Layer: r.Layer, Metric: string(metric), Emotions: r.Emotions}
	top1, top3 := 0, 0
	for _, p := range prompts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		target := -1
		for i, em := range r.Emotions {
			if em == p.Emotion {
				target = i
			}
		}
		if target < 0 {
			continue
		}
		ids, err := e.encodeUser(p.Text, "", p.Text)
		if err != nil {
			return nil, err
		}
		sc, err := e.lastReadout(ids, r)
		if err != nil {
			return nil, err
		}
		vals := sc.Proj
		if metric == readout.ZScore {
			vals = sc.Z
		}
		it := ImplicitItem{ImplicitPrompt: p, Score: float64(vals[target])}
		order := make([]int, len(vals))
		for i := range order {
			order[i] = i
			it.Scores = append(it.Scores, float64(vals[i]))
			if vals[i] > vals[target] {
				it.Rank++
			}
		}
		sort.SliceStable(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
		for _, i := range order[:min(3, len(order))] {
			it.Top = append(it.Top, Ranked{r.Emotions[i], float64(vals[i])})
		}
		if it.Rank == 0 {
			top1++
		}
		if it.Rank < 3 {
			top3++
		}
		res.Items = append(res.Items, it)
	}
	if len(res.Items) == 0 {
		return nil, fmt.Errorf("experiment implicit: the vector pack has none of the prompts' emotions")
	}
	res.Top1 = float64(top1) / float64(len(res.Items))
	res.Top3 = float64(top3) / float64(len(res.Items))
	return res, nil
}
