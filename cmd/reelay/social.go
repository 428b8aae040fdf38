package main

import (
	"flag"

	"github.com/reelay/reelay/feed"
)

// social holds the flags of the feed's social actions, on reelay up and reelay feed.
type social struct {
	reportThreshold int
	commentMax      int
}

func (s *social) register(fs *flag.FlagSet) {
	fs.IntVar(&s.reportThreshold, "report-threshold", 3, "users' open reports of a video that hide it until an admin resolves them")
	fs.IntVar(&s.commentMax, "comment-max", 500, "most characters of a comment")
}

func (s *social) validate() error {
	if s.reportThreshold < 1 {
		return usagef("invalid --report-threshold %d: want 1 or more", s.reportThreshold)
	}
	if s.commentMax < 1 || s.commentMax > 10000 {
		return usagef("invalid --comment-max %d: want 1 to 10000", s.commentMax)
	}
	return nil
}

// config sets the social fields of cfg.
func (s *social) config(cfg feed.Config) feed.Config {
	cfg.ReportThreshold, cfg.CommentMaxRunes = s.reportThreshold, s.commentMax
	return cfg
}
