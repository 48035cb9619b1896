package stories

import (
	"strings"
	"testing"
)

func TestOpeningSets(t *testing.T) {
	for _, name := range OpeningSets {
		ts, err := OpeningSet(name)
		if err != nil || len(ts) == 0 {
			t.Fatalf("OpeningSet(%q) = %d templates, %v", name, len(ts), err)
		}
		for seed := uint64(0); seed < 40; seed++ {
			o := BaseOpening(ts, "sad", "{name}'s kite got stuck high in a tree", seed)
			if strings.Contains(o, "{") || !strings.Contains(o, "sad") {
				t.Errorf("%s, seed %d: %q has a placeholder left or lacks the emotion", name, seed, o)
			}
		}
	}
	if _, err := OpeningSet("sideways"); err == nil || !strings.Contains(err.Error(), "first-person") {
		t.Errorf("unknown set: err = %v, want one listing the sets", err)
	}
	mixed, _ := OpeningSet("mixed")
	if want := len(emotionalOpenings) + len(firstPersonOpenings) + len(dialogueOpenings); len(mixed) != want {
		t.Errorf("mixed has %d templates, want %d", len(mixed), want)
	}
}

func TestFirstPersonTopic(t *testing.T) {
	for _, c := range []struct{ topic, want string }{
		{"{name}'s kite got stuck high in a tree", "my kite got stuck high in a tree"},
		{"{name} found a lost puppy in the park", "I found a lost puppy in the park"},
		{"a dog barked at {name}", "a dog barked at me"},
	} {
		if got := firstPerson(c.topic); got != c.want {
			t.Errorf("firstPerson(%q) = %q, want %q", c.topic, got, c.want)
		}
	}
	ts, _ := OpeningSet("first-person")
	o := BaseOpening(ts[:1], "happy", "{name}'s friend had a new toy", 3)
	if !strings.Contains(o, "One day, my friend had a new toy. I felt very happy because") {
		t.Errorf("first-person opening %q", o)
	}
}
