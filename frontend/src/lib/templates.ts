import type { SandboxImage } from "../api/client";

export interface Template {
  name: string;
  code: string;
  image?: SandboxImage;
}

// Each shows one thing the sandbox does with a program; the outcome it should get is in its name.
export const templates: readonly Template[] = [
  { name: "Hello world", code: 'print("hello")\n' },
  {
    name: "An exception (outcome: error)",
    code: 'def divide(a, b):\n    return a / b\n\n\nprint("about to divide")\ndivide(1, 0)\n',
  },
  {
    name: "A timeout (outcome: timeout)",
    code: 'import time\n\nprint("sleeping past the time limit", flush=True)\nwhile True:\n    time.sleep(1)\n',
  },
  {
    name: "A memory bomb (outcome: memory_exceeded)",
    code: 'chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n    print(f"{len(chunks) * 16} MiB", flush=True)\n',
  },
  {
    name: "A network attempt (refused by the sandbox)",
    code:
      'import socket\n\ntry:\n    socket.create_connection(("example.com", 80), timeout=3)\n' +
      '    print("connected: the sandbox should have refused this")\n' +
      'except OSError as error:\n    print(f"no network: {error}")\n',
  },
  {
    name: "NumPy (ml image)",
    image: "ml",
    code:
      "import numpy as np\n\nrng = np.random.default_rng(0)\nm = rng.normal(size=(3, 3))\n" +
      'print(m.round(3))\nprint("determinant:", round(float(np.linalg.det(m)), 4))\n',
  },
];
