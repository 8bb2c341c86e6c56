/**
 * A board link's name as a merchant or technician says it, for the merchant copy of the slip and
 * the result screen (issue 12: which link carried the answer). No imports: the LCD screens use it.
 */
/** Exported for the LCD font's character set (ui-lcd/font/charset.ts). */
export const LINK_NAMES: Readonly<Record<string, { readonly en: string; readonly zh: string }>> = {
  wifi: { en: 'Wi-Fi', zh: 'Wi-Fi' }, modem: { en: '4G', zh: '4G' }, ethernet: { en: 'Ethernet', zh: '以太网' },
};

/**
 * A board link's name as a merchant or technician says it ("wifi0" -> Wi-Fi, "modem0" -> 4G,
 * "ethernet" -> Ethernet/以太网); a second link of a kind keeps its number ("wifi1" -> Wi-Fi 2).
 * A name this does not know is shown as the board file spells it.
 */
export function linkName(link: string): { readonly en: string; readonly zh: string } {
  const m = /^(wifi|modem|ethernet)(\d*)$/.exec(link);
  const base = m ? LINK_NAMES[m[1]] : undefined;
  if (!m || !base) return { en: link, zh: link };
  const n = m[2] === '' ? 0 : Number(m[2]);
  return n === 0 ? base : { en: `${base.en} ${n + 1}`, zh: `${base.zh} ${n + 1}` };
}
