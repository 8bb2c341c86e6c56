/** The pre-authorization family's menu as a cashier opens it, for the e2e tests that use it. */
import { Driver } from './driver';

/** Main menu item 10 (it has no digit: UP from the first item goes to 11, UP again to 10), then `item`, until `state`. */
export async function openPreAuthFamily(d: Driver, item: string, state: string): Promise<void> {
  await d.keys('MENU');
  await d.keys('UP');
  await d.keys('UP');
  await d.keys('OK');
  await d.keys(item);
  await d.until(state);
}
