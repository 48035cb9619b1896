// Drives a limbic server with the official OpenAI Node.js SDK: a chat
// completion with the limbic extension (steering, per-token readout) passed
// as an extra body field, the same request streamed, a text completion,
// and log-probs in chat (streamed and not) and completions.
// Prints one JSON object with what it saw; node_test.go checks it.
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.LIMBIC_URL + '/v1', apiKey: process.env.LIMBIC_KEY, maxRetries: 0 });
const limbic = { steer: ['happy=0.2'], readout: { emotions: ['happy', 'sad'], every: 1 } };
const params = {
  model: 'stories15m',
  messages: [{ role: 'user', content: 'Once upon a time' }],
  max_tokens: 8,
  seed: 1,
  // An extra body field: the SDK sends properties it does not know as they are.
  limbic,
};
const out = {};
const cc = await client.chat.completions.create(params);
out.content = cc.choices[0].message.content;
out.limbic = cc.limbic;
out.usage = cc.usage;

const stream = await client.chat.completions.create({ ...params, stream: true });
let text = '';
const readouts = [];
for await (const chunk of stream) {
  text += chunk.choices[0]?.delta?.content ?? '';
  if (chunk.limbic?.tokens) readouts.push(...chunk.limbic.tokens);
}
out.streamText = text;
out.streamReadouts = readouts;

const comp = await client.completions.create({ model: 'stories15m', prompt: 'The dog', max_tokens: 6, seed: 1, limbic: { readout: { off: true } } });
out.completion = comp.choices[0].text;

// Log-probs, not streamed and streamed (each chunk carries its token's).
const lpParams = { model: 'stories15m', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 6, seed: 2, logprobs: true, top_logprobs: 2 };
const lp = await client.chat.completions.create(lpParams);
out.logprobs = lp.choices[0].logprobs.content;
const lpStream = await client.chat.completions.create({ ...lpParams, stream: true });
out.streamLogprobs = [];
for await (const chunk of lpStream) {
  out.streamLogprobs.push(...(chunk.choices[0]?.logprobs?.content ?? []));
}
const lpComp = await client.completions.create({ model: 'stories15m', prompt: 'The dog', max_tokens: 6, seed: 1, logprobs: 2 });
out.completionLogprobs = lpComp.choices[0].logprobs;
out.completionLogprobsText = lpComp.choices[0].text;

try {
  await client.chat.completions.create({ ...params, limbic: { steer: ['nosuch=0.2'] } });
  out.badSteer = 'accepted';
} catch (e) {
  out.badSteer = { status: e.status, message: e.message };
}
console.log(JSON.stringify(out));
