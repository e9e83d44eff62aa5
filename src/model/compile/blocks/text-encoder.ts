// CLIP-style text encoder (transformers CLIPTextModel names; docs/model-architecture.md §4):
// token + position embeddings → layers (LN1 → causal self-attention → +res → LN2 → MLP → +res)
// → final_layer_norm. The MLP activation is the config's hidden_act: quick_gelu (OpenAI CLIP, the
// embedded model) or gelu, torch's exact erf GELU (OpenCLIP ViT-H ports: SD 2.x, ModelScope, ZeroScope).
// Input input_ids int64 [P, L]; output last_hidden_state [P, L, D]: every layer of the config, then
// final_layer_norm. That is what diffusers' text-to-video pipelines take (encode_prompt without
// clip_skip, which Video-Infinity never passes). OpenCLIP's "penultimate layer" is built into the
// published ViT-H ports rather than selected here: SD 2.x's text_encoder config keeps 23 of its 24 layers.
import type { TextEncoderConfig } from '../../config.js';
import { type Program, ai } from '../graph.js';
import { weight } from '../numerics.js';
import type { Weights } from '../weights.js';
import { type Ctx, type Value, add, attentionCore, geluErf, layerNorm, linear } from './nn.js';

const MASKED = -1e9; // added to future-position logits; exp underflows to exactly 0 in float32

export function buildTextEncoder(P: Program, W: Weights, cfg: TextEncoderConfig): void {
  const c: Ctx = { P, W, batch: 1 };
  const D = cfg.hiddenSize;
  const L = cfg.maxPositionEmbeddings;
  const ids = P.callInput('input_ids', 'int64', ['P', L]);
  const tokTable = weight(c, 'text_model.embeddings.token_embedding.weight', [cfg.vocabSize, D],
    W.take('text_model.embeddings.token_embedding.weight', [cfg.vocabSize, D]));
  const posTable = weight(c, 'text_model.embeddings.position_embedding.weight', [L, D],
    W.take('text_model.embeddings.position_embedding.weight', [L, D]));
  W.ignoreBuffer('text_model.embeddings.position_ids'); // constant arange(L) in older checkpoints, not a weight
  let h: Value = P.op('Add', [P.op('Gather', [tokTable, ids], { axis: ai(0) }), posTable]); // [P, L, D]
  // A named initializer: constF32 would name it by its L·L values (tens of KB, repeated per layer).
  const mask = P.initializer('text_model.causal_mask', [L, L], Float32Array.from({ length: L * L }, (_, k) => (k % L > Math.floor(k / L) ? MASKED : 0)));
  const heads = cfg.numAttentionHeads;
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const key = `text_model.encoder.layers.${l}`;
    const x = layerNorm(c, h, `${key}.layer_norm1`, D, cfg.layerNormEps);
    const q = linear(c, x, `${key}.self_attn.q_proj`, D, D, true);
    const k = linear(c, x, `${key}.self_attn.k_proj`, D, D, true);
    const v = linear(c, x, `${key}.self_attn.v_proj`, D, D, true);
    h = add(c, h, linear(c, attentionCore(c, q, k, v, heads, D / heads, mask), `${key}.self_attn.out_proj`, D, D, true));
    let m = linear(c, layerNorm(c, h, `${key}.layer_norm2`, D, cfg.layerNormEps), `${key}.mlp.fc1`, D, cfg.intermediateSize, true);
    if (cfg.hiddenAct === 'quick_gelu') {
      m = P.op('Mul', [m, P.op('Sigmoid', [P.op('Mul', [m, P.constF32([1.702], [])])])]);
    } else {
      m = geluErf(c, m);
    }
    h = add(c, h, linear(c, m, `${key}.mlp.fc2`, cfg.intermediateSize, D, true));
  }
  const out = layerNorm(c, h, 'text_model.final_layer_norm', D, cfg.layerNormEps);
  const named = P.op('Identity', [out], {}, 'last_hidden_state', ['P', L, D]);
  P.output(named, 'result');
}
