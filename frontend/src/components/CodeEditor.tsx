import { useEffect, useRef } from "react";
import { monaco } from "./monaco";

export interface CursorRequest {
  line: number;
  // A new request to the same line moves the cursor again.
  nonce: number;
}

interface Props {
  value: string;
  onChange: (value: string) => void;
  onRun: () => void;
  cursor?: CursorRequest;
}

export default function CodeEditor({ value, onChange, onRun, cursor }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<monaco.editor.IStandaloneCodeEditor | null>(null);
  // The editor is made once; these let its callbacks see the latest props.
  const handlers = useRef({ onChange, onRun });
  handlers.current = { onChange, onRun };

  useEffect(() => {
    if (!host.current) return;
    const created = monaco.editor.create(host.current, {
      value,
      language: "python",
      automaticLayout: true,
      minimap: { enabled: false },
      fontSize: 14,
      scrollBeyondLastLine: false,
      ariaLabel: "Code editor",
      tabSize: 4,
    });
    created.onDidChangeModelContent(() => handlers.current.onChange(created.getValue()));
    created.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, () => handlers.current.onRun());
    editor.current = created;
    return () => {
      created.getModel()?.dispose();
      created.dispose();
      editor.current = null;
    };
    // Created once; `value` changes are pushed below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const current = editor.current;
    if (current && current.getValue() !== value) current.setValue(value);
  }, [value]);

  useEffect(() => {
    const current = editor.current;
    if (!current || !cursor) return;
    current.setPosition({ lineNumber: cursor.line, column: 1 });
    current.revealLineInCenter(cursor.line);
    current.focus();
  }, [cursor]);

  return <div ref={host} className="code-editor" data-testid="code-editor" />;
}
