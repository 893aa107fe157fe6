package kafkaproducer

import "github.com/IBM/sarama"

// headerCarrier adapts record headers to the propagation API.
type headerCarrier struct{ headers []sarama.RecordHeader }

func (c *headerCarrier) Get(key string) string {
	for _, h := range c.headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c *headerCarrier) Set(key, value string) {
	for i, h := range c.headers {
		if string(h.Key) == key {
			c.headers[i].Value = []byte(value)
			return
		}
	}
	c.headers = append(c.headers, sarama.RecordHeader{Key: []byte(key), Value: []byte(value)})
}

func (c *headerCarrier) Keys() []string {
	keys := make([]string, len(c.headers))
	for i, h := range c.headers {
		keys[i] = string(h.Key)
	}
	return keys
}
