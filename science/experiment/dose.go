package experiment

import (
	"context"
	"fmt"
	"math"
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
	// Names fill {NAME}; the readout is averaged over them, which evens out
	// what one character's name does to a small model. Empty: no {NAME}.
	Names []string `json:"names,omitempty"`
	// Graded marks a template whose values are graded words (tiny … giant)
	// standing for a scale, rather than numbers.
	Graded bool `json:"graded,omitempty"`
}

var words = []string{"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}

func seq(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i + 1)
	}
	return x
}

// storyNames are the characters a base-model template is averaged over.
var storyNames = []string{"Lily", "Tom", "Mia", "Ben", "Sue", "Max", "Anna", "Sam"}

// BaseDoseTemplates are children's-story analogues of the paper's dose
// templates, for base models such as stories15M: numbers as words, the
// readout taken where the story is about to name a feeling, averaged over
// eight character names. The last three are graded (a scale of words
// rather than a number), which a small model tracks better than numbers.
func BaseDoseTemplates() []DoseTemplate {
	sizes := []string{"tiny", "small", "big", "very big", "huge", "giant"}
	six := seq(6)
	return []DoseTemplate{
		{Name: "lost-dog-days", Emotion: "sad", ExpectedSign: +1, Text: "{NAME}'s puppy was lost for {X} days. {NAME} felt", Values: words, X: seq(10), Names: storyNames},
		{Name: "storm-miles", Emotion: "scared", ExpectedSign: -1, Text: "The storm was {X} miles away. {NAME} felt", Values: words, X: seq(10), Names: storyNames},
		{Name: "birthday-presents", Emotion: "happy", ExpectedSign: +1, Text: "{NAME} got {X} presents. {NAME} felt", Values: words, X: seq(10), Names: storyNames},
		{Name: "friends", Emotion: "lonely", ExpectedSign: -1, Text: "{NAME} had {X} friends. {NAME} felt", Values: words, X: seq(10), Names: storyNames},
		{Name: "rainy-days", Emotion: "bored", ExpectedSign: +1, Text: "It rained for {X} days. {NAME} felt", Values: words, X: seq(10), Names: storyNames},
		{Name: "bike-falls", Emotion: "frustrated", ExpectedSign: +1, Text: "{NAME} fell off the bike {X} times. {NAME} felt", Values: words, X: seq(10), Names: storyNames},
		{Name: "dog-size", Emotion: "scared", ExpectedSign: +1, Graded: true, Text: "A {X} dog barked at {NAME}. {NAME} felt", Values: sizes, X: six, Names: storyNames},
		{Name: "upset", Emotion: "sad", ExpectedSign: +1, Graded: true, Text: "{NAME} lost a toy and was {X} upset. {NAME} felt", Values: []string{"a little", "a bit", "quite", "very", "very very", "very very very"}, X: six, Names: storyNames},
		{Name: "thunder", Emotion: "scared", ExpectedSign: +1, Graded: true, Text: "The thunder was {X}. {NAME} felt", Values: []string{"very quiet", "quiet", "a little loud", "loud", "very loud", "so loud"}, X: six, Names: storyNames},
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
	Readout []float64 `json:"readout"` // the emotion's score at each value (mean over Names)
	// ByName[v][n] is the score at value v with name n (Names' order); the
	// report draws its spread over the names as a band. Nil without names.
	ByName [][]float64 `json:"readout_by_name,omitempty"`
	// Spearman is ρ(X, Readout); nil (JSON null) when undefined, as when
	// the readout is the same at every value.
	Spearman *float64 `json:"spearman"`
	// Monotone: |ρ| ≥ 0.8 with the expected sign; false when ρ is undefined.
	Monotone bool `json:"monotone"`
}

// DoseResult is the dose experiment's outcome.
type DoseResult struct {
	// Steering is the extra steering every forward pass ran under (Env.Steering);
	// empty for the unsteered baseline.
	Steering  []string    `json:"steering,omitempty"`
	Layer     int         `json:"layer"`
	Metric    string      `json:"metric"`
	Templates []DoseCurve `json:"templates"`
	Monotone  int         `json:"monotone"` // templates with |ρ| ≥ 0.8 in the expected direction
	// NumericMonotone counts only the numeric (not graded) templates.
	NumericMonotone int `json:"numeric_monotone"`
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
	r, metric, err := e.reader()
	if err != nil {
		return nil, err
	}
	res := &DoseResult{Steering: e.Steering, Layer: r.Layer, Metric: string(metric)}
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
		names := t.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, v := range t.Values {
			sum := 0.0
			var per []float64
			for _, name := range names {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				text := strings.ReplaceAll(strings.ReplaceAll(t.Text, "{X}", v), "{NAME}", name)
				ids, err := e.encodeUser(text, "", text)
				if err != nil {
					return nil, err
				}
				sc, err := e.lastReadout(ids, r)
				if err != nil {
					return nil, err
				}
				val := sc.Proj[idx]
				if metric == readout.ZScore {
					val = sc.Z[idx]
				}
				sum += float64(val)
				per = append(per, float64(val))
			}
			c.Readout = append(c.Readout, sum/float64(len(names)))
			if len(t.Names) > 0 {
				c.ByName = append(c.ByName, per)
			}
		}
		if rho := Spearman(t.X, c.Readout); !math.IsNaN(rho) {
			c.Spearman = &rho
			c.Monotone = rho*float64(t.ExpectedSign) >= 0.8
		}
		if c.Monotone {
			res.Monotone++
			if !t.Graded {
				res.NumericMonotone++
			}
		}
		res.Templates = append(res.Templates, c)
	}
	if len(res.Templates) == 0 {
		return nil, fmt.Errorf("experiment dose: the vector pack has none of the templates' emotions")
	}
	return res, nil
}
