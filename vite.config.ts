import { defineConfig } from 'vite';

// COOP/COEP make the page cross-origin isolated (ORT's wasm runs threads only then). The signaling
// server sends the same headers for the built app; these cover `vite` dev and `vite preview`.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// `vite` (dev) serves the page with hot reload; the room API and the PeerServer stay on the
// signaling server (`npm run serve`, port 8080 by default, or VI_SIGNALING), proxied here.
const signaling = process.env.VI_SIGNALING ?? 'http://127.0.0.1:8080';

export default defineConfig({
  server: {
    headers: isolation,
    proxy: { '/api': signaling, '/peerjs': { target: signaling, ws: true } },
  },
  preview: { headers: isolation },
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 4096 },
});
