package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asticode/go-astiav"
)

// Settings of the whole process, which the commands that want them ask for at start: a
// library must not change them behind its caller's back.

// logFFmpegTo sends FFmpeg's own log messages (libx264 statistics, demuxer warnings) to log
// instead of the process's stderr: errors at error level, warnings at warn level, everything
// else at debug level. FFmpeg's logging is process-wide: the last logger given wins.
func logFFmpegTo(log *slog.Logger) {
	ffmpegLog.Store(log.With("lib", "ffmpeg"))
	// go-astiav keeps its callback in a variable that FFmpeg's threads read without a lock, so
	// it is set once; a later call changes only the logger under it.
	ffmpegLogOnce.Do(func() {
		astiav.SetLogLevel(astiav.LogLevelInfo)
		astiav.SetLogCallback(func(_ astiav.Classer, l astiav.LogLevel, _, msg string) {
			level := slog.LevelDebug
			switch {
			case l <= astiav.LogLevelError:
				level = slog.LevelError
			case l <= astiav.LogLevelWarning:
				level = slog.LevelWarn
			}
			if msg = strings.TrimSpace(msg); msg != "" {
				ffmpegLog.Load().Log(context.Background(), level, msg)
			}
		})
	})
}

// ffmpegLog is the logger of FFmpeg's messages (logFFmpegTo).
var (
	ffmpegLog     atomic.Pointer[slog.Logger]
	ffmpegLogOnce sync.Once
)

// transcodingProcess readies the process for transcoding: FFmpeg's logs go to log, and
// transparent huge pages are turned off unless hugePages. libx264 asks for huge pages
// (madvise) for its frame buffers, and on a long-running machine whose memory is fragmented
// every such fault may compact memory before it zeroes 2 MiB: on a Debian 12 machine with the
// default THP settings, turning them off cut the kernel time of a 1080p ladder by half, the
// CPU time by 4 % and the peak RSS by 30 MiB (bench/RESULTS.md). It is process-wide (Linux
// PR_SET_THP_DISABLE; there is no per-library switch) and inherited by children.
func transcodingProcess(log *slog.Logger, hugePages bool) {
	logFFmpegTo(log)
	if !hugePages {
		if err := disableHugePages(); err != nil {
			log.Warn("could not turn transparent huge pages off", "err", err)
		}
	}
}
