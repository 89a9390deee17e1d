// Vigil's service worker: shows a notification for each Web Push message and opens the alarm
// when it is clicked. Registered with scope /static/; it controls no page, which push does not
// need. Payload (JSON, vigil.integrations.webpush.notification): title, body, alarm_id, url,
// tag, priority...

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : '' };
  }
  const url = data.url ?? (data.alarm_id ? `/#/alarms/${data.alarm_id}` : '/#/alarms');
  event.waitUntil(self.registration.showNotification(data.title || 'Vigil alarm', {
    body: data.body || '',
    tag: data.tag ?? (data.alarm_id ? `vigil-alarm-${data.alarm_id}` : undefined),
    renotify: Boolean(data.alarm_id),
    requireInteraction: (data.priority ?? 5) <= 2,
    data: { url },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url ?? '/#/alarms', self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const client of windows) {
      if (new URL(client.url).origin === self.location.origin && 'focus' in client) {
        await client.focus();
        // The worker controls no page, so it cannot navigate one: the page opens the alarm.
        client.postMessage({ type: 'vigil.open', url: target });
        return;
      }
    }
    await self.clients.openWindow(target);
  })());
});
