#!/usr/bin/env node
// Uploads a file to reelay's tus endpoint with tus-js-client, as a creator's client would,
// in 256 KiB chunks. It aborts the upload at random points (mid-chunk or between chunks) and
// starts the same Upload object again each time, so the real client resumes: HEAD for the
// offset, then PATCH from there. On success it prints the upload's URL.
//
// Usage: REELAY_TOKEN=<bearer token> node e2e/tus/upload.mjs [--aborts N] [--caption TEXT] <endpoint> <file>
//
// The token comes from the environment, not the command line, where other users could see it.

import { createReadStream, statSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { parseArgs } from 'node:util'
import { Upload } from 'tus-js-client'

const CHUNK_SIZE = 262144

function fail(message) {
  console.error(`upload.mjs: ${message}`)
  process.exit(1)
}

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    aborts: { type: 'string', default: '10' },
    caption: { type: 'string', default: '' },
  },
})
if (positionals.length !== 2) {
  fail('usage: REELAY_TOKEN=<token> node upload.mjs [--aborts N] [--caption TEXT] <endpoint> <file>')
}
const [endpoint, file] = positionals
const token = process.env.REELAY_TOKEN
if (!token) {
  fail('REELAY_TOKEN is not set')
}
const wantAborts = Number.parseInt(opts.aborts, 10)
if (!Number.isInteger(wantAborts) || wantAborts < 0) {
  fail(`--aborts ${opts.aborts}: not a count`)
}
const size = statSync(file).size
// Every abort falls in a chunk of its own, and none in the last chunk, so each one cuts the
// upload before it can finish and no two collapse into one resume.
const chunks = Math.ceil(size / CHUNK_SIZE)
if (wantAborts > chunks - 1) {
  fail(`${file} is too small for ${wantAborts} aborts: it has ${chunks} chunks of ${CHUNK_SIZE} bytes`)
}

// Abort when the bytes sent or accepted first pass each of these offsets: a random offset
// inside each of wantAborts distinct chunks, chosen at random among all but the last.
const candidates = Array.from({ length: chunks - 1 }, (_, i) => i)
for (let i = candidates.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1))
  ;[candidates[i], candidates[j]] = [candidates[j], candidates[i]]
}
const abortAt = candidates
  .slice(0, wantAborts)
  .map((c) => c * CHUNK_SIZE + 1 + Math.floor(Math.random() * (CHUNK_SIZE - 1)))
abortAt.sort((a, b) => a - b)
let next = 0
let aborted = 0
let stopped = false // between an abort and the next start
let finished = false

const types = { '.mp4': 'video/mp4', '.mov': 'video/quicktime', '.webm': 'video/webm', '.mkv': 'video/x-matroska' }
const metadata = {
  filename: basename(file),
  filetype: types[extname(file).toLowerCase()] ?? 'application/octet-stream',
}
if (opts.caption) {
  metadata.caption = opts.caption
}

const upload = new Upload(createReadStream(file), {
  endpoint,
  chunkSize: CHUNK_SIZE,
  retryDelays: [0, 100, 250, 500, 1000, 2000, 4000],
  headers: { Authorization: `Bearer ${token}` },
  metadata,
  onProgress: (bytesSent) => maybeAbort(bytesSent),
  onChunkComplete: (_chunkSize, bytesAccepted) => maybeAbort(bytesAccepted),
  onError: (err) => fail(`upload failed: ${err}`),
  onSuccess: () => {
    finished = true
    if (aborted !== wantAborts) {
      fail(`the upload finished after ${aborted} of ${wantAborts} aborts`)
    }
    console.error(`upload.mjs: ${size} bytes uploaded, resumed after ${aborted} aborts`)
    console.log(upload.url)
  },
})

function maybeAbort(bytes) {
  if (finished || stopped || next >= abortAt.length || bytes < abortAt[next]) {
    return
  }
  next++
  stopped = true
  upload
    .abort()
    .then(() => {
      aborted++
      setTimeout(
        () => {
          stopped = false
          upload.start()
        },
        Math.floor(Math.random() * 50),
      )
    })
    .catch((err) => fail(`abort: ${err}`))
}

upload.start()
