// Monaco from the npm package, never a CDN: the page works offline. Only the
// editor core and Python's highlighting are bundled, with the one worker the
// core needs.
import * as monaco from "monaco-editor/esm/vs/editor/editor.api";
import "monaco-editor/esm/vs/basic-languages/python/python.contribution";
// The icon font of its widgets (find, suggestions), served with the page.
import "monaco-editor/esm/vs/base/browser/ui/codicons/codicon/codicon.css";
import EditorWorker from "monaco-editor/esm/vs/editor/editor.worker?worker";

self.MonacoEnvironment = { getWorker: () => new EditorWorker() };

export { monaco };
