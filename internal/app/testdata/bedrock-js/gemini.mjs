// Drives the gateway's Gemini front door with Google's Gen AI SDK for
// JavaScript, as an application would: generateContent, a stream, a
// function calling round trip and a typed error. Prints one JSON line.
import { GoogleGenAI, ApiError } from '@google/genai';

const ai = new GoogleGenAI({ apiKey: process.env.SY_API_KEY, httpOptions: { baseUrl: process.env.SY_ENDPOINT } });
const model = process.env.SY_MODEL;
const prompt = process.env.SY_PROMPT;
const out = {};

const r = await ai.models.generateContent({ model, contents: prompt });
out.text = r.text;
out.finishReason = r.candidates[0].finishReason;
out.usage = r.usageMetadata;

let streamText = '';
let chunks = 0;
for await (const chunk of await ai.models.generateContentStream({ model, contents: prompt })) {
  chunks++;
  streamText += chunk.text ?? '';
}
out.streamText = streamText;
out.chunks = chunks;

const tools = [{
  functionDeclarations: [{
    name: 'get_weather',
    description: 'Current weather for a city',
    parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  }],
}];
const history = [{ role: 'user', parts: [{ text: 'call get_weather for the city' }] }];
const call = await ai.models.generateContent({ model, contents: history, config: { tools } });
out.calls = call.functionCalls;
history.push(call.candidates[0].content);
history.push({ role: 'user', parts: [{ functionResponse: { id: call.functionCalls[0].id, name: 'get_weather', response: { result: 'sunny' } } }] });
const final = await ai.models.generateContent({ model, contents: history, config: { tools } });
out.toolAnswer = final.text;

try {
  await ai.models.generateContent({ model: 'no-such-model', contents: prompt });
} catch (e) {
  out.errorStatus = e instanceof ApiError ? e.status : -1;
  out.errorMessage = e.message;
}
console.log(JSON.stringify(out));
