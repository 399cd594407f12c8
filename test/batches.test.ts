import { describe, expect, it } from 'vitest';
import { BatchStreams, evaluationChunks } from '../src/index.js';

const ramp = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('BatchStreams', () => {
  it('cuts the text into contiguous streams that each step continues', () => {
    const ids = ramp(1001);
    const streams = new BatchStreams(ids, 4, 10);
    expect(streams.streamLength).toBe(250);
    expect(streams.stepsPerEpoch).toBe(25);
    const seen: number[][] = [[], [], [], []];
    for (let step = 0; step < streams.stepsPerEpoch; step++) {
      const batch = streams.next();
      for (let t = 0; t < 10; t++) {
        for (let b = 0; b < 4; b++) {
          const input = batch.inputs[t * 4 + b];
          // Targets are the inputs shifted by one character.
          expect(batch.targets[t * 4 + b]).toBe(ids[input + 1]);
          seen[b].push(input);
        }
      }
    }
    // Stream b is one contiguous run of the text, starting at b × streamLength.
    seen.forEach((stream, b) => expect(stream).toEqual([...ramp(250)].map((i) => i + b * 250)));
    expect(streams.epochDone).toBe(true);
    streams.rewind();
    expect(streams.next().inputs[0]).toBe(0);
  });

  it('refuses a text too small for one step, saying what would fit', () => {
    expect(() => new BatchStreams(ramp(50), 8, 10)).toThrow(/needs at least 81 characters.*--batch-size 4/);
  });
});

describe('evaluationChunks', () => {
  it.each([
    [1001, 4, 10],
    [1000, 3, 7],
    [11, 16, 5],
    [2, 4, 4],
  ])('scores every target of %i characters exactly once (batch %i, seq %i)', (n, batchSize, seqLen) => {
    const ids = ramp(n);
    const scored: number[] = [];
    let lastOfStream: number[] = [];
    for (const chunk of evaluationChunks(ids, batchSize, seqLen)) {
      for (let b = 0; b < chunk.batchSize; b++) {
        for (let t = 0; t < chunk.seqLen; t++) {
          const input = chunk.inputs[t * chunk.batchSize + b];
          expect(chunk.targets[t * chunk.batchSize + b]).toBe(input + 1);
          scored.push(input + 1);
        }
      }
      // Each chunk continues its stream (or, for the leftover tail, the stream it names).
      const firsts = Array.from({ length: chunk.batchSize }, (_, b) => chunk.inputs[b]);
      if (lastOfStream.length > 0) {
        const previous = chunk.continuesStream === undefined ? lastOfStream : [lastOfStream[chunk.continuesStream]];
        expect(firsts).toEqual(previous.map((i) => i + 1));
      }
      lastOfStream = Array.from({ length: chunk.batchSize }, (_, b) => chunk.inputs[(chunk.seqLen - 1) * chunk.batchSize + b]);
    }
    expect(scored.sort((a, b) => a - b)).toEqual([...ramp(n - 1)].map((i) => i + 1));
  });
});
