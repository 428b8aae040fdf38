package transcoder

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static void reelay_release_freed_memory(void) {
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}
*/
import "C"

// releaseFreedMemory returns to the system the pages that the C heap holds free, which a
// transcode leaves plenty of. FFmpeg's and libx264's buffers are freed to glibc's malloc at the
// end of each transcode, and malloc keeps them: in the arena of each of the many threads that
// allocated them (decoder, filter and encoder threads), and, past the first large buffers freed,
// no longer in mappings of their own (glibc raises its mmap threshold as they are freed). A
// long-running worker's resident memory then grew to the most that any mix of transcodes had
// left free: for 720p clips, from 60 to about 450 MiB over a hundred transcodes, with 2 MiB of it
// in use (bench/soak). malloc_trim(0) gives the free pages back (madvise), the addresses stay
// reserved; it takes milliseconds. It does nothing where the C library is not glibc.
func releaseFreedMemory() { C.reelay_release_freed_memory() }
