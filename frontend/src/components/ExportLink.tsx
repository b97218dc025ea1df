// A download link to one of the streamed exports; the session cookie authenticates the GET.

export function ExportLink({ href, label, children }: { href: string; label: string; children: React.ReactNode }) {
  return (
    <a className="btn btn-small" href={href} download aria-label={label} data-testid="export-link">
      {children}
    </a>
  );
}
