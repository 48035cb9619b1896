package stories

import "github.com/limbic-dev/limbic/science/shard"

// ShardTasks returns the tasks shard s owns: a contiguous block, in plan
// order, of the plan's (emotion, topic) units, so that the tasks of one
// unit (which a chat generator asks for in one request) never straddle two
// shards. The blocks of every shard of a count, concatenated in shard
// order, are tasks again, so that the shards' story files, concatenated in
// that order, are the file one process writes.
func ShardTasks(tasks []Task, s shard.Shard) []Task {
	if s.Count <= 1 {
		return tasks
	}
	var starts []int // index of each unit's first task
	for i, t := range tasks {
		if i == 0 || t.Emotion != tasks[i-1].Emotion || t.Topic != tasks[i-1].Topic || t.Kind != tasks[i-1].Kind {
			starts = append(starts, i)
		}
	}
	lo, hi := s.Range(len(starts))
	if lo == hi {
		return nil
	}
	end := len(tasks)
	if hi < len(starts) {
		end = starts[hi]
	}
	return tasks[starts[lo]:end]
}
