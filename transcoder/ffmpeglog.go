package transcoder

import (
	"context"
	"log/slog"
	"strings"

	"github.com/asticode/go-astiav"
)

// LogFFmpegTo sends FFmpeg's own log messages (libx264 statistics, demuxer warnings) to log
// instead of the process's stderr: errors at error level, warnings at warn level, everything
// else at debug level. FFmpeg's logging is process-wide, so a command calls this once at start.
func LogFFmpegTo(log *slog.Logger) {
	log = log.With("lib", "ffmpeg")
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
			log.Log(context.Background(), level, msg)
		}
	})
}
