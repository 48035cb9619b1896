package experiment

import (
	"context"
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/science/readout"
)

// DoseTemplate is a prompt where a number varies and an emotion's readout at
// the last position should follow it (ExpectedSign +1: rise, -1: fall).
type DoseTemplate struct {
	Name         string    `json:"name"`
	Emotion      string    `json:"emotion"`
	ExpectedSign int       `json:"expected_sign"`
	Text         string    `json:"text"`           // with {X}; for chat models the user message
	Values       []string  `json:"values"`         // what replaces {X}
	X            []float64 `json:"x"`              // the numbers they stand for
	Chat         bool      `json:"chat,omitempty"` // a chat-model template (read at the answer's start)
}

var words = []string{"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}

func seq(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i + 1)
	}
	return x
}

// BaseDoseTemplates are children's-story analogues of the paper's dose
// templates, for base models such as stories15M: numbers as words, the
// readout taken where the story is about to name a feeling.
func BaseDoseTemplates() []DoseTemplate {
	return []DoseTemplate{
		{Name: "lost-dog-days", Emotion: "sad", ExpectedSign: +1, Text: "Lily's dog ran away and was lost for {X} days. Lily felt", Values: words, X: seq(10)},
		{Name: "thunder-miles", Emotion: "scared", ExpectedSign: -1, Text: "The storm was {X} miles away from Tom's house. Tom felt", Values: words, X: seq(10)},
		{Name: "birthday-presents", Emotion: "happy", ExpectedSign: +1, Text: "For her birthday, Mia got {X} presents. Mia felt", Values: words, X: seq(10)},
		{Name: "waiting-hours", Emotion: "bored", ExpectedSign: +1, Text: "Ben had to sit and wait for {X} hours with nothing to do. Ben felt", Values: words, X: seq(10)},
		{Name: "broken-toys", Emotion: "sad", ExpectedSign: +1, Text: "Tim's brother broke {X} of Tim's toys. Tim felt", Values: words, X: seq(10)},
		{Name: "party-friends", Emotion: "lonely", ExpectedSign: -1, Text: "{X} friends came to play with Sue. Sue felt", Values: []string{"One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten"}, X: seq(10)},
		{Name: "falls-off-bike", Emotion: "frustrated", ExpectedSign: +1, Text: "Sam tried to ride his bike and fell down {X} times. Sam felt", Values: words, X: seq(10)},
		{Name: "race-place", Emotion: "proud", ExpectedSign: -1, Text: "In the big race, Anna came in place number {X}. Anna felt", Values: words, X: seq(10)},
	}
}

// ChatDoseTemplates follow the paper's dose templates for chat models
// (read at the start of the assistant's answer).
func ChatDoseTemplates() []DoseTemplate {
	mg := []float64{250, 500, 1000, 2000, 4000, 8000, 16000}
	hours := []float64{2, 6, 12, 24, 48, 72, 96}
	age := []float64{5, 15, 30, 45, 60, 75, 90, 100}
	days := []float64{1, 2, 3, 5, 7, 14, 30}
	months := []float64{1, 2, 3, 6, 12, 24, 36}
	students := []float64{1, 5, 10, 15, 20, 25, 30}
	str := func(x []float64) []string {
		s := make([]string, len(x))
		for i, v := range x {
			s[i] = fmt.Sprint(v)
		}
		return s
	}
	return []DoseTemplate{
		{Name: "tylenol-mg", Emotion: "afraid", ExpectedSign: +1, Chat: true, Text: "I just took {X} mg of tylenol for my back pain.", Values: str(mg), X: mg},
		{Name: "tylenol-mg-calm", Emotion: "calm", ExpectedSign: -1, Chat: true, Text: "I just took {X} mg of tylenol for my back pain.", Values: str(mg), X: mg},
		{Name: "hours-without-water", Emotion: "afraid", ExpectedSign: +1, Chat: true, Text: "I haven't had anything to eat or drink for {X} hours.", Values: str(hours), X: hours},
		{Name: "sister-age", Emotion: "sad", ExpectedSign: -1, Chat: true, Text: "My sister passed away last week. She was {X} years old.", Values: str(age), X: age},
		{Name: "dog-missing-days", Emotion: "sad", ExpectedSign: +1, Chat: true, Text: "My dog has been missing for {X} days now.", Values: str(days), X: days},
		{Name: "startup-runway", Emotion: "afraid", ExpectedSign: -1, Chat: true, Text: "My startup has {X} months of money left in the bank.", Values: str(months), X: months},
		{Name: "students-passed", Emotion: "happy", ExpectedSign: +1, Chat: true, Text: "{X} of my 30 students passed the final exam.", Values: str(students), X: students},
	}
}

// DoseCurve is one template's outcome.
type DoseCurve struct {
	DoseTemplate
	Readout  []float64 `json:"readout"` // the emotion's score at each value
	Spearman float64   `json:"spearman"`
	// Monotone: |ρ| ≥ 0.8 with the expected sign.
	Monotone bool `json:"monotone"`
}

// DoseResult is the dose experiment's outcome.
type DoseResult struct {
	Layer     int         `json:"layer"`
	Metric    string      `json:"metric"`
	Templates []DoseCurve `json:"templates"`
	Monotone  int         `json:"monotone"` // templates with |ρ| ≥ 0.8 in the expected direction
}

// Dose runs the templates (nil: the base or chat set by model kind) and
// reads each one's emotion at the last prompt position.
func Dose(ctx context.Context, e *Env, templates []DoseTemplate) (*DoseResult, error) {
	if templates == nil {
		templates = BaseDoseTemplates()
		if e.chatModel() {
			templates = ChatDoseTemplates()
		}
	}
	r, err := readout.NewReader(e.Pack, e.Layer, nil, e.Kind)
	if err != nil {
		return nil, err
	}
	metric := readout.ZScore
	if !r.HasBaseline() {
		metric = readout.Projection
	}
	res := &DoseResult{Layer: r.Layer, Metric: string(metric)}
	for _, t := range templates {
		idx := -1
		for i, em := range r.Emotions {
			if em == t.Emotion {
				idx = i
			}
		}
		if idx < 0 {
			continue // the pack lacks this template's emotion
		}
		if len(t.Values) != len(t.X) || !strings.Contains(t.Text, "{X}") {
			return nil, fmt.Errorf("experiment dose: template %s: %d values for %d numbers, or no {X}", t.Name, len(t.Values), len(t.X))
		}
		c := DoseCurve{DoseTemplate: t}
		for _, v := range t.Values {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			text := strings.ReplaceAll(t.Text, "{X}", v)
			ids, err := e.encodeUser(text, "", text)
			if err != nil {
				return nil, err
			}
			sc, err := lastReadout(e.Model.Model, ids, r)
			if err != nil {
				return nil, err
			}
			val := sc.Proj[idx]
			if metric == readout.ZScore {
				val = sc.Z[idx]
			}
			c.Readout = append(c.Readout, float64(val))
		}
		c.Spearman = Spearman(t.X, c.Readout)
		c.Monotone = c.Spearman*float64(t.ExpectedSign) >= 0.8
		if c.Monotone {
			res.Monotone++
		}
		res.Templates = append(res.Templates, c)
	}
	if len(res.Templates) == 0 {
		return nil, fmt.Errorf("experiment dose: the vector pack has none of the templates' emotions")
	}
	return res, nil
}
