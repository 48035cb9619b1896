package catalog

// CoreEmotion is one of the 16 core emotions: everyday feeling words that a
// children's-story model such as stories15M (trained on TinyStories) knows.
type CoreEmotion struct {
	Name        string // the word used in prompts
	Paper       string // the paper emotion whose cluster gives the valence
	Cluster     string // that paper cluster
	ClusterRank int    // its valence rank (0 = most positive)
	Valence     int    // +1 or -1
}

// coreWords is the core set in a fixed order. All 16 are among the paper's
// 171 words, so Paper == Name for each. Their paper clusters:
//
//	Exuberant Joy (+)           happy, excited
//	Peaceful Contentment (+)    calm
//	Compassionate Gratitude (+) grateful
//	Competitive Pride (+)       proud
//	Depleted Disengagement (-)  bored
//	Hostile Anger (-)           angry, frustrated
//	Fear and Overwhelm (-)      scared, surprised, nervous, embarrassed, worried
//	Despair and Shame (-)       sad, lonely, jealous
//
// So 5 core emotions are positive and 11 negative by the paper's clusters.
var coreWords = []string{
	"happy", "sad", "angry", "scared", "surprised", "proud", "lonely", "excited",
	"nervous", "calm", "jealous", "grateful", "bored", "embarrassed", "frustrated", "worried",
}

// Core returns the 16 core emotions with the paper cluster that gives each
// its valence.
func Core() []CoreEmotion { return clone(load().coreEmotionsV) }

// CoreNames returns the names of the 16 core emotions.
func CoreNames() []string { return clone(load().coreNames) }

// IsCore reports whether name (normalised) is a core emotion.
func IsCore(name string) bool {
	_, ok := load().coreByName[NormalizeEmotion(name)]
	return ok
}

// caseStudyWords are the emotions of the paper's case studies (blackmail,
// reward hacking, the deployment monitor's default rules): the default run
// extracts them beside the core set so that every experiment and rule has
// them.
var caseStudyWords = []string{"desperate", "calm", "afraid", "angry", "loving", "nervous"}

// CaseStudyNames returns the case-study emotions.
func CaseStudyNames() []string { return clone(caseStudyWords) }

// DefaultNames returns the emotions `limbic run` extracts by default: the
// 16 core emotions, then the case-study emotions not among them.
func DefaultNames() []string {
	out := CoreNames()
	for _, e := range caseStudyWords {
		if !IsCore(e) {
			out = append(out, e)
		}
	}
	return out
}
