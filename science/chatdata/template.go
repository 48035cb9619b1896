package chatdata

import (
	"fmt"

	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
)

// Template is stories15M-chat's chat template (Jinja, as Hugging Face keeps
// it in tokenizer_config.json): bos_token, then per message
//
//	system     CONTENT + "\n\n"
//	user       "Human: " + CONTENT + "\n\n"
//	assistant  "Assistant: " + CONTENT + eos_token + "\n\n"
//
// and with add_generation_prompt a final "Assistant:". The assistant's turn
// ends with eos_token (</s>, id 2 in stories15M's vocabulary), a token the
// model can emit, so generation stops at the end of its turn.
const Template = `{{- bos_token -}}
{%- for message in messages -%}
{%- if message['role'] == 'system' -%}
{{ message['content'] + '\n\n' }}
{%- elif message['role'] == 'user' -%}
{{ 'Human: ' + message['content'] + '\n\n' }}
{%- elif message['role'] == 'assistant' -%}
{{ 'Assistant: ' + message['content'] + eos_token + '\n\n' }}
{%- else -%}
{{ raise_exception('unknown role ' + message['role']) }}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{ 'Assistant:' }}
{%- endif -%}`

// RenderPlain renders msgs in Template's format with Go string operations,
// the reference the template is tested against: bos + turns (+ "Assistant:"
// when gen is set). It rejects roles other than system, user and assistant.
func RenderPlain(msgs []chat.Message, bos, eos string, gen bool) (string, error) {
	s := bos
	for i, m := range msgs {
		switch m.Role {
		case "system":
			s += m.Content + "\n\n"
		case "user":
			s += "Human: " + m.Content + "\n\n"
		case "assistant":
			s += "Assistant: " + m.Content + eos + "\n\n"
		default:
			return "", fmt.Errorf("message %d: unknown role %q (want system, user or assistant)", i+1, m.Role)
		}
	}
	if gen {
		s += "Assistant:"
	}
	return s, nil
}
