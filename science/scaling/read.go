package scaling

import (
	"context"
	"errors"
	"fmt"

	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/pipeline"
)

// window is a span of a text's tokens, counted from its first text token:
// [Offset, End), End 0 meaning the end of the text.
type window struct {
	Offset, End int
}

func (w window) String() string {
	if w.End == 0 {
		return fmt.Sprintf("[%d, end)", w.Offset)
	}
	return fmt.Sprintf("[%d, %d)", w.Offset, w.End)
}

// text is one text to read, with its label.
type text struct {
	extract.Text
	Emotion int // index into the study's emotions; -1 for neutral texts
	Index   int // story index within its (emotion, topic)
	Topic   int // index into the study's topics (-1: none)
	ID      string
}

// feature is a text's mean activation per window and read layer (the last
// "layer" is the mid pseudo-layer): Means[w][l] has d values, nil where the
// window is empty (the text too short).
type feature struct {
	Emotion, Index, Topic int
	ID                    string
	Means                 [][][]float32
}

// reader reads texts through the model, keeping per-window means and, for
// neutral texts, per-window moments.
type reader struct {
	r      pipeline.Runner
	layers []int // model layers read
	mid    []int // positions in layers averaged into the mid pseudo-layer
	d      int
	batch  int
	// tokens counts the positions run through the model (prefix included).
	tokens int64
}

// nLayers is the number of read layers plus the mid pseudo-layer.
func (rd *reader) nLayers() int { return len(rd.layers) + 1 }

// read runs texts through the model in batches and visits each one's rows
// at every read layer and the mid pseudo-layer.
func (rd *reader) read(ctx context.Context, texts []text, visit func(i int, rows [][]float32, textStart int) error, progress func(done int)) error {
	d := rd.d
	pos := map[int]int{}
	for i, l := range rd.layers {
		pos[l] = i
	}
	for lo := 0; lo < len(texts); lo += rd.batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := texts[lo:min(lo+rd.batch, len(texts))]
		ts := make([]extract.Text, len(chunk))
		for i := range chunk {
			ts[i] = chunk[i].Text
		}
		rows := make([][][]float32, len(chunk))
		starts := make([]int, len(chunk))
		for i := range rows {
			rows[i] = make([][]float32, rd.nLayers())
		}
		err := rd.r.Residuals(ctx, ts, rd.layers, func(i, layer int, r []float32, textStart int) error {
			rows[i][pos[layer]] = append([]float32(nil), r...)
			starts[i] = textStart
			return nil
		})
		if err != nil {
			return err
		}
		for i := range chunk {
			T := len(rows[i][0]) / d
			rd.tokens += int64(T)
			mid := make([]float32, T*d)
			for _, l := range rd.mid {
				for j, v := range rows[i][l] {
					mid[j] += v
				}
			}
			inv := 1 / float32(len(rd.mid))
			for j := range mid {
				mid[j] *= inv
			}
			rows[i][len(rd.layers)] = mid
			if err := visit(lo+i, rows[i], starts[i]); err != nil {
				return err
			}
		}
		if progress != nil {
			progress(min(lo+rd.batch, len(texts)))
		}
	}
	return nil
}

// span returns the absolute rows [a, b) of window w in a text of T rows
// whose text starts at textStart, or ok false when it is empty.
func span(w window, T, textStart int) (a, b int, ok bool) {
	a = textStart + w.Offset
	b = T
	if w.End > 0 {
		b = min(T, textStart+w.End)
	}
	return a, b, a < b
}

// means reads texts and returns each one's window means.
func (rd *reader) means(ctx context.Context, texts []text, wins []window, progress func(done int)) ([]feature, error) {
	out := make([]feature, len(texts))
	d := rd.d
	err := rd.read(ctx, texts, func(i int, rows [][]float32, textStart int) error {
		f := feature{Emotion: texts[i].Emotion, Index: texts[i].Index, Topic: texts[i].Topic, ID: texts[i].ID, Means: make([][][]float32, len(wins))}
		T := len(rows[0]) / d
		for w, win := range wins {
			a, b, ok := span(win, T, textStart)
			if !ok {
				continue
			}
			f.Means[w] = make([][]float32, len(rows))
			for l, r := range rows {
				m := make([]float32, d)
				extract.MeanRows(m, r, d, a, b)
				f.Means[w][l] = m
			}
		}
		out[i] = f
		return nil
	}, progress)
	return out, err
}

// moments reads neutral texts and returns their token moments per window and
// layer (extraction's neutral statistics).
func (rd *reader) moments(ctx context.Context, texts []text, wins []window, progress func(done int)) ([][]*extract.Moments, error) {
	out := make([][]*extract.Moments, len(wins))
	for w := range out {
		out[w] = make([]*extract.Moments, rd.nLayers())
		for l := range out[w] {
			out[w][l] = extract.NewMoments(rd.d)
		}
	}
	d := rd.d
	err := rd.read(ctx, texts, func(i int, rows [][]float32, textStart int) error {
		T := len(rows[0]) / d
		for w, win := range wins {
			a, b, ok := span(win, T, textStart)
			if !ok {
				continue
			}
			for l, r := range rows {
				out[w][l].AddRows(r, a, b)
			}
		}
		return nil
	}, progress)
	if err != nil {
		return nil, err
	}
	for w := range out {
		if out[w][0].N == 0 {
			return nil, errors.New("scaling: no neutral tokens in window " + wins[w].String())
		}
	}
	return out, nil
}
